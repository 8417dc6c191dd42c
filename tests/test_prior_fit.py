"""The measures of how well codes match their prior (aaekit.metrics.prior_fit)."""

import numpy as np
import pytest
import torch

from aaekit.metrics.prior_fit import c2st, mmd, prior_fit
from aaekit.priors import Gaussian, MixtureOfGaussians


def test_two_samples_of_one_distribution_score_chance_and_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2))
    assert abs(c2st(a, b) - 0.5) < 0.03
    assert abs(mmd(a, b)) < 2e-3


@pytest.mark.parametrize("change", ["wider", "shifted"])
def test_a_widened_or_shifted_sample_scores_clearly_higher(change):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4000, 2))
    b = rng.normal(size=(4000, 2)) * 1.5 if change == "wider" else rng.normal(size=(4000, 2)) + 0.5
    same = rng.normal(size=(4000, 2))
    assert c2st(a, b) > 0.58 > c2st(a, same) + 0.05
    assert mmd(a, b) > 0.02 > mmd(a, same) + 0.015


def test_prior_fit_draws_apart_from_the_run_stream_and_is_seeded():
    torch.manual_seed(0)  # the samples below; the bounds hold for every seed 0-5 tried
    prior = MixtureOfGaussians()
    codes = prior.sample(3000)
    state = torch.get_rng_state()
    fit = prior_fit(codes, prior)
    assert torch.equal(torch.get_rng_state(), state)  # the run's random stream is untouched
    assert fit == prior_fit(codes, prior)  # and the measure repeats
    assert abs(fit["prior_fit_c2st"] - 0.5) < 0.06  # the prior's own samples fit it
    off = prior_fit(Gaussian(2).sample(3000), prior)
    assert off["prior_fit_c2st"] > 0.7 and off["prior_fit_mmd"] > max(0.0015, 3 * abs(fit["prior_fit_mmd"]))


def test_every_unsupervised_run_measures_its_prior_fit(tiny):
    from aaekit.run import train_run

    for kind, out in (("aae", "a"), ("vae", "v")):
        result = train_run(tiny(out, model={"kind": kind, "code_dim": 2, "encoder_hidden": [32, 32],
                                            "decoder_hidden": [32, 32], "discriminator_hidden": [32, 32],
                                            "init_std": 0.1}))
        m = result["metrics"]
        assert 0.4 <= m["prior_fit_c2st"] <= 1 and "prior_fit_mmd" in m
        assert "val_prior_fit_c2st" in (result["run_dir"] / "log.csv").read_text().splitlines()[0]

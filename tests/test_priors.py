import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from aaekit.config import PriorConfig
from aaekit.priors import Categorical, Gaussian, MixtureOfGaussians, SwissRoll, build_prior


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def test_gaussian_moments_any_dim():
    s = Gaussian(8, std=5.0).sample(200_000)
    assert s.shape == (200_000, 8)
    assert s.mean(0).abs().max() < 0.05
    assert (s.std(0) - 5).abs().max() < 0.05
    assert abs(torch.corrcoef(s.T)[0, 1]) < 0.01


def test_gaussian_log_prob_matches_scipy():
    z = torch.randn(5, 3) * 2
    ref = multivariate_normal(np.zeros(3), 4 * np.eye(3)).logpdf(z.numpy())
    assert np.allclose(Gaussian(3, 2.0).log_prob(z).numpy(), ref, atol=1e-5)


def test_mixture_components_and_moments():
    p = MixtureOfGaussians(10, radius=1.4, radial_std=0.5, tangential_std=0.1)
    y = torch.arange(10).repeat_interleave(5000)
    s = p.sample(len(y), y)
    for k in range(10):
        mean = s[y == k].mean(0)
        angle = 2 * math.pi * k / 10
        assert torch.allclose(mean, torch.tensor([1.4 * math.cos(angle), 1.4 * math.sin(angle)]), atol=0.03)
    # label-conditioned samples fall in their own component; the components overlap only near the
    # origin (radial std 0.5 at radius 1.4: about 2 % of samples lie within 0.4 of it)
    assert (p.assign(s) == y).float().mean() > 0.97
    # unconditioned: all components equally, mean at the origin
    u = p.sample(100_000)
    assert u.mean(0).abs().max() < 0.02
    counts = torch.bincount(p.assign(u), minlength=10).float() / len(u)
    assert (counts - 0.1).abs().max() < 0.01


def test_mixture_log_prob_matches_scipy():
    p = MixtureOfGaussians(4, radius=2.0, radial_std=0.5, tangential_std=0.2)
    z = torch.randn(6, 2) * 2
    dens = 0
    for k in range(4):
        a = 2 * math.pi * k / 4
        r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        cov = r @ np.diag([0.25, 0.04]) @ r.T
        dens = dens + multivariate_normal(2 * r[:, 0], cov).pdf(z.numpy()) / 4
    assert np.allclose(p.log_prob(z).numpy(), np.log(dens), atol=1e-4)


def test_swiss_roll_segments_and_moments():
    p = SwissRoll(10, radius=3.0, turns=2.0)
    y = torch.arange(10).repeat_interleave(2000)
    s = p.sample(len(y), y)
    assert (p.assign(s) == y).float().mean() > 0.99
    # radius = 3 sqrt(t), t ~ U(0, 1): E[r^2] = 9/2; segment k has t in [k/10, (k+1)/10)
    u = p.sample(100_000)
    assert abs(u.pow(2).sum(1).mean().item() - 4.5) < 0.05
    r2 = s.pow(2).sum(1) / 9
    for k in range(10):
        seg = r2[y == k]
        assert seg.min() >= k / 10 - 1e-5 and seg.max() <= (k + 1) / 10 + 1e-5
    with pytest.raises(NotImplementedError):
        p.log_prob(u)


def test_categorical_one_hot():
    p = Categorical(16)
    s = p.sample(32_000)
    assert s.shape == (32_000, 16) and torch.all(s.sum(1) == 1)
    assert (s.mean(0) - 1 / 16).abs().max() < 0.01
    y = torch.tensor([3, 0, 15])
    assert torch.equal(p.sample(3, y).argmax(1), y)


def test_bad_labels():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        MixtureOfGaussians().sample(2, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="shape"):
        SwissRoll().sample(3, torch.tensor([0, 1]))


def test_moments_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    build_prior(PriorConfig(kind="mog"), 2).moments()
    assert torch.equal(state, torch.get_rng_state())


def test_swiss_roll_width():
    # noise: each sample moved off its roll point by N(0, noise^2 I); with a small width most
    # samples still lie nearest their own segment
    torch.manual_seed(0)
    p = SwissRoll(10, radius=3.0, turns=2.0, noise=0.1)
    y = torch.arange(10).repeat_interleave(2000)
    torch.manual_seed(1)
    s = p.sample(len(y), y)
    torch.manual_seed(1)
    on_roll = SwissRoll(10, radius=3.0, turns=2.0).sample(len(y), y)
    off = s - on_roll
    assert abs(off.std().item() - 0.1) < 0.005 and abs(off.mean().item()) < 0.005
    assert (p.assign(s) == y).float().mean() > 0.9

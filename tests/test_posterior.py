"""model.posterior: gaussian (the paper's Sec. 2 option (b)): the encoder gives a mean and a
log-variance, training codes are draws of q(z | x) with the right moments, ``encode`` is the mean,
a run with it learns and resumes bit for bit, and the configs it is refused for."""

import pytest
import torch

from aaekit.config import ConfigError
from aaekit.data import load_splits
from aaekit.data.loader import Batch
from aaekit.models import build_model
from aaekit.run import train_run
from aaekit.train import Trainer

MODEL = {"kind": "aae", "code_dim": 2, "encoder_hidden": [32, 32], "decoder_hidden": [32, 32],
         "discriminator_hidden": [32, 32], "init_std": 0.1, "posterior": "gaussian"}


def test_training_codes_are_draws_of_the_gaussian_posterior_and_encode_is_its_mean(tiny):
    model = build_model(tiny(model=MODEL, prior={"kind": "gaussian", "std": 5.0}), 64)
    assert model.encoder(torch.rand(3, 64)).shape == (3, 4)  # a mean and a log-variance per dimension
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight[2:] = 0  # log-variances 0 and -2 ln 10: stds 1 and 1/10 of the prior's
        last.bias[2:] = torch.tensor([0.0, -2 * torch.log(torch.tensor(10.0))])
    x = torch.rand(1, 64).expand(20000, 64)
    torch.manual_seed(0)
    z = model.draw_codes(Batch(x, None), x).detach()
    mean = model.encode(x[:1]).detach()
    assert torch.equal(mean, model.encoder(x[:1])[:, :2].detach())
    torch.testing.assert_close(z.mean(0), mean[0], atol=0.1, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([5.0, 0.5]), atol=0.05, rtol=0.02)
    assert not torch.equal(model.draw_codes(Batch(x[:2], None), x[:2]), model.draw_codes(Batch(x[:2], None), x[:2]))
    plain = build_model(tiny(model={**MODEL, "posterior": "deterministic"}), 64)
    assert plain.encoder(x[:1]).shape == (1, 2) and torch.equal(plain.draw_codes(Batch(x[:1], None), x[:1]),
                                                                plain.encode(x[:1]))


def make(cfg):
    splits = load_splits(cfg.data)
    torch.manual_seed(cfg.seed)
    return Trainer(build_model(cfg, splits.train.dim), cfg, splits.train, splits.val, cfg.run_dir)


def test_a_gaussian_posterior_learns_and_resumes_bit_for_bit(tiny):
    train = {"batch_size": 20, "precision": "fp32", "progress": False, "device": "cpu"}
    straight = make(tiny("a", model=MODEL, train={**train, "epochs": 6}))
    straight.fit()
    log = straight.history
    assert log[-1]["reconstruction_loss"] < 0.8 * log[0]["reconstruction_loss"]
    make(tiny("b", model=MODEL, train={**train, "epochs": 3})).fit()
    resumed = make(tiny("b", model=MODEL, train={**train, "epochs": 6}))
    resumed.fit(resume=True)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["reconstruction_loss"] for h in log] == [h["reconstruction_loss"] for h in resumed.history]


@pytest.mark.parametrize("model,match", [
    ({"posterior": "normal"}, "'model.posterior': deterministic or gaussian, not 'normal'"),
    ({"kind": "vae"}, "only the aae has it, not 'vae' \\(the vae's posterior is always gaussian\\)"),
    ({"kind": "supervised_aae"}, "only the aae has it, not 'supervised_aae'"),
])
def test_a_bad_posterior_is_refused_with_one_line(tiny, model, match):
    with pytest.raises(ConfigError, match=match):
        train_run(tiny("bad", model={**MODEL, **model}))
    assert not tiny("bad").run_dir.exists()

"""model.dropout / model.discriminator_dropout: where the dropout sits, that it acts in training only,
that a run with it resumes bit for bit, and the configs it is refused for."""

import pytest
import torch
from torch import nn

from aaekit.config import ConfigError
from aaekit.data import load_splits
from aaekit.models import build_model
from aaekit.nets import MLP
from aaekit.run import train_run
from aaekit.train import Trainer

TRAIN = {"batch_size": 20, "precision": "fp32", "progress": False, "device": "cpu"}
MODEL = {"kind": "aae", "code_dim": 2, "encoder_hidden": [32, 32], "decoder_hidden": [32, 32],
         "discriminator_hidden": [32, 32], "init_std": 0.1}


def make(cfg):
    splits = load_splits(cfg.data)
    torch.manual_seed(cfg.seed)
    return Trainer(build_model(cfg, splits.train.dim), cfg, splits.train, splits.val, cfg.run_dir)


def test_mlp_dropout_sits_after_each_hidden_relu_and_acts_in_training_only():
    torch.manual_seed(0)
    net = MLP(20, [64, 64], 3, dropout=0.5)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    x = torch.randn(8, 20)
    net.train()
    assert not torch.equal(net(x), net(x))  # a new mask each pass
    net.eval()
    plain = MLP(20, [64, 64], 3)
    plain.load_state_dict({k: v for k, v in zip(plain.state_dict(), net.state_dict().values(), strict=True)})
    assert torch.equal(net(x), net(x)) and torch.allclose(net(x), plain(x))  # eval: the same net without it
    # training: about half the hidden units of the first layer are zeroed, the rest scaled by 2
    net.train()
    relu = net[1](net[0](x))
    h = net[2](relu.clone())
    kept = h != 0
    assert 0.3 < kept[relu > 0].float().mean() < 0.7
    assert torch.allclose(h[kept], 2 * relu[kept])


def test_the_config_puts_dropout_in_encoder_decoder_and_every_discriminator(tiny):
    def count(module):
        return sum(isinstance(m, nn.Dropout) for m in module.modules())

    aae = build_model(tiny(model={**MODEL, "dropout": 0.2, "discriminator_dropout": 0.3}), 64)
    assert (count(aae.encoder), count(aae.decoder), count(aae.discriminator)) == (2, 2, 2)
    assert {m.p for m in aae.discriminator.modules() if isinstance(m, nn.Dropout)} == {0.3}
    semi = build_model(tiny(model={**MODEL, "kind": "semisupervised_aae", "discriminator_dropout": 0.3}), 64)
    assert count(semi.encoder) == 0 and [count(a) for a in semi.adversaries.values()] == [2, 2]
    assert count(build_model(tiny(model=MODEL), 64)) == 0  # off by default: the paper's nets


def test_dropout_trains_and_resumes_bit_for_bit(tiny):
    model = {**MODEL, "dropout": 0.2, "discriminator_dropout": 0.2}
    straight = make(tiny("a", model=model, train={**TRAIN, "epochs": 4}))
    straight.fit()
    assert straight.history[-1]["reconstruction_loss"] < straight.history[0]["reconstruction_loss"]
    make(tiny("b", model=model, train={**TRAIN, "epochs": 2})).fit()
    resumed = make(tiny("b", model=model, train={**TRAIN, "epochs": 4}))
    resumed.fit(resume=True)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["reconstruction_loss"] for h in straight.history] == [h["reconstruction_loss"] for h in resumed.history]
    # evaluation is deterministic: the model leaves training mode to encode
    x = straight.val_x
    assert straight.model.evaluate(x)["recon_sse"] == straight.model.evaluate(x)["recon_sse"]


@pytest.mark.parametrize("model,match", [
    ({"dropout": 1.0}, r"'model.dropout': a probability in \[0, 1\)"),
    ({"discriminator_dropout": -0.1}, r"'model.discriminator_dropout': a probability"),
    ({"kind": "vae", "discriminator_dropout": 0.2}, "the vae has no discriminator"),
    ({"nets": "conv", "dropout": 0.2}, "only the mlp nets have it"),
])
def test_bad_dropout_is_refused_with_one_line(tiny, model, match):
    with pytest.raises(ConfigError, match=match):
        train_run(tiny("bad", model={**MODEL, **model}))
    assert not tiny("bad").run_dir.exists()


def test_seeds_together_refuse_dropout(tiny):
    with pytest.raises(ConfigError, match="train.seeds.*dropout"):
        train_run(tiny("drop", model={**MODEL, "dropout": 0.2}, train={**TRAIN, "epochs": 1, "seeds": [0, 1]}))
    assert not (tiny("drop").run_dir / "seed0" / "checkpoint.pt").exists()

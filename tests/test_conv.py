"""Convolutional nets and the three DCGAN switches (aaekit.nets.conv, model.nets: conv)."""

import itertools

import pytest
import torch
from torch import nn

from aaekit.models import build_model
from aaekit.models.adversary import Adversary
from aaekit.nets import MLP, ConvDecoder, ConvEncoder
from aaekit.priors import Gaussian
from aaekit.run import train_run
from aaekit.train import Trainer

SWITCHES = list(itertools.product([False, True], repeat=3))  # all_conv, no_fc, batchnorm


@pytest.mark.parametrize("shape", [(28, 28), (7, 5), (13, 13), (1, 9)])
@pytest.mark.parametrize("all_conv,no_fc,batchnorm", SWITCHES)
def test_shapes_for_odd_and_non_square_images(shape, all_conv, no_fc, batchnorm):
    enc = ConvEncoder(shape, 3, (4, 6), (10,), all_conv, no_fc, batchnorm)
    dec = ConvDecoder(3, shape, (4, 6), (10,), all_conv, no_fc, batchnorm)
    x = torch.rand(5, shape[0] * shape[1])
    assert enc(x).shape == (5, 3)
    assert dec(torch.randn(5, 3)).shape == (5, shape[0] * shape[1])


def layers(net, kind):
    return [m for m in net.modules() if isinstance(m, kind)]


def test_all_conv_replaces_pooling_and_upsampling_with_strided_convolutions():
    base = [ConvEncoder((28, 28), 8), ConvDecoder(8, (28, 28))]
    conv = [ConvEncoder((28, 28), 8, all_conv=True), ConvDecoder(8, (28, 28), all_conv=True)]
    assert len(layers(base[0], nn.MaxPool2d)) == 2 and len(layers(base[1], nn.Upsample)) == 2
    for net in conv:
        assert not layers(net, nn.MaxPool2d) and not layers(net, nn.Upsample)
    assert all(c.stride == (2, 2) for c in layers(conv[0], nn.Conv2d))
    assert len(layers(conv[1], nn.ConvTranspose2d)) == 2 and not layers(conv[1], nn.Conv2d)


def test_no_fc_leaves_no_fully_connected_hidden_layer():
    enc, dec = ConvEncoder((28, 28), 8, hidden=(100, 50)), ConvDecoder(8, (28, 28), hidden=(100, 50))
    assert len(layers(enc, nn.Linear)) == 3 and len(layers(dec, nn.Linear)) == 3
    enc, dec = ConvEncoder((28, 28), 8, hidden=(100,), no_fc=True), ConvDecoder(8, (28, 28), hidden=(100,), no_fc=True)
    # the encoder's one Linear is its output, the decoder's its projection onto the first feature map
    assert [(m.in_features, m.out_features) for m in layers(enc, nn.Linear)] == [(64 * 7 * 7, 8)]
    assert [(m.in_features, m.out_features) for m in layers(dec, nn.Linear)] == [(8, 64 * 7 * 7)]


def test_batchnorm_only_where_dcgan_allows_it():
    enc = ConvEncoder((28, 28), 8, channels=(4, 6), hidden=(10,), batchnorm=True)
    # after the second convolution and the hidden layer, never after the first (it reads the image)
    assert [m.num_features for m in layers(enc, nn.modules.batchnorm._BatchNorm)] == [6, 10]
    assert not isinstance(enc.conv[1], nn.modules.batchnorm._BatchNorm)
    dec = ConvDecoder(8, (28, 28), channels=(4, 6), hidden=(10,), batchnorm=True)
    bns = layers(dec, nn.modules.batchnorm._BatchNorm)
    assert [m.num_features for m in bns] == [10, 6 * 7 * 7, 4]  # hidden, projection, middle stage
    assert isinstance(dec.up[-1], nn.Conv2d)  # the output layer: logits, nothing after
    mlp = MLP(5, (7, 7), 1, batchnorm=True)
    assert [m.num_features for m in layers(mlp, nn.BatchNorm1d)] == [7]  # not on the input layer
    assert not layers(ConvEncoder((28, 28), 8), nn.modules.batchnorm._BatchNorm)


def test_a_batchnorm_discriminator_never_normalises_prior_samples_and_codes_together():
    adv = Adversary(Gaussian(2), (8, 8), 0.1, batchnorm=True)
    seen = []
    adv.net.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    real, codes = torch.randn(6, 2), torch.randn(6, 2) + 3
    loss, _, _ = adv.discriminator_loss(codes, real)
    assert len(seen) == 2 and torch.equal(seen[0], real) and torch.equal(seen[1], codes)
    plain = Adversary(Gaussian(2), (8, 8), 0.1)
    seen.clear()
    plain.net.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    plain.discriminator_loss(codes, real)
    assert len(seen) == 1 and len(seen[0]) == 12  # without batch norm: one pass over both


def conv_cfg(tiny, out="run", kind="aae", epochs=3, **model):
    m = {"kind": kind, "nets": "conv", "conv_channels": [4, 8], "encoder_hidden": [16], "decoder_hidden": [16],
         "discriminator_hidden": [16], "init_std": None, "all_conv": True, "no_fc": False, "batchnorm": True, **model}
    extra = {}
    if kind in ("semisupervised_aae", "dimred_aae"):
        m.update(n_classes=4)
        extra["data"] = {"dataset": tiny().data.dataset, "val_size": 50, "labelled": 20}
    if kind in ("clustering_aae", "dimred_clustering_aae"):
        m.update(n_clusters=4)
    if kind == "label_aae":
        extra["prior"] = {"kind": "mog", "n_components": 4}
    if kind == "vae":
        m.pop("discriminator_hidden")
    return tiny(out, model=m, train={"epochs": epochs, "batch_size": 20, "precision": "fp32", "progress": False,
                                     "device": "cpu", "optim": {"reconstruction": {"name": "adam", "lr": 1e-2}}},
                **extra)


@pytest.mark.parametrize("kind", ["aae", "vae", "supervised_aae", "label_aae", "semisupervised_aae", "clustering_aae",
                                  "dimred_aae", "dimred_clustering_aae"])
def test_every_model_learns_with_a_dcgan_net(tiny, kind):
    """All three switches on: each model's reconstruction error falls well below an untrained one's."""
    cfg = conv_cfg(tiny, kind=kind, epochs=4)
    if kind == "vae":
        cfg.train.optim = {"elbo": {"name": "adam", "lr": 1e-2}}
    from aaekit.data import load_splits

    splits = load_splits(cfg.data, seed=cfg.seed)
    torch.manual_seed(0)
    model = build_model(cfg, splits.train.dim, splits.train.image_shape)
    assert isinstance(model.encoder, ConvEncoder) and isinstance(model.decoder, ConvDecoder)
    before = model.evaluate(splits.val.floats(), splits.val.y)["recon_sse"]
    t = Trainer(model, cfg, splits.train, splits.val, cfg.run_dir)
    t.fit()
    after = t.history[-1]["val_recon_sse"]
    assert after < 0.7 * before and 0 < t.history[-1]["val_encoder_alive_units"] <= 1


def test_resume_with_batchnorm_is_bit_exact(tiny):
    from aaekit.data import load_splits

    def make(out, epochs):
        cfg = conv_cfg(tiny, out, epochs=epochs, discriminator_batchnorm=True)
        splits = load_splits(cfg.data, seed=cfg.seed)
        torch.manual_seed(cfg.seed)
        return Trainer(build_model(cfg, splits.train.dim, splits.train.image_shape), cfg, splits.train, splits.val,
                       cfg.run_dir)

    straight = make("a", 4)
    straight.fit()
    make("b", 2).fit()
    resumed = make("b", 4)
    resumed.fit(resume=True)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert any("running_mean" in k for k in a)  # the running statistics are in the checkpoint, and equal
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_conv_nets_need_images_and_the_switches_need_conv(tiny, tmp_path):
    import numpy as np

    from aaekit.config import ConfigError

    flat = tmp_path / "flat.npz"
    np.savez(flat, x=np.random.default_rng(0).random((300, 10)).astype(np.float32))
    with pytest.raises(ConfigError, match="conv nets need .height, width. images, and these data are flat"):
        train_run(tiny(model={"kind": "aae", "nets": "conv"}, data={"dataset": str(flat), "val_size": 50}))
    with pytest.raises(ConfigError, match="a switch of model.nets: conv"):
        tiny(model={"kind": "aae", "all_conv": True})
    with pytest.raises(ConfigError, match="the vae has no discriminator"):
        tiny(model={"kind": "vae", "discriminator_batchnorm": True})

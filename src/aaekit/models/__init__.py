"""Models, each a list of phases for the one trainer; ``build_model`` makes one from a config."""

from __future__ import annotations

import math
from collections.abc import Sequence

from aaekit.config import CATEGORICAL_KINDS, Config, ConfigError
from aaekit.models.aae import AAE
from aaekit.models.base import Model, Phase
from aaekit.models.dimred import DimRedAAE, DimRedClusteringAAE
from aaekit.models.semisupervised import ClusteringAAE, SemiSupervisedAAE
from aaekit.models.supervised import LabelPriorAAE, SupervisedAAE
from aaekit.models.vae import VAE
from aaekit.nets import NetSpec
from aaekit.priors import build_prior

__all__ = ["AAE", "VAE", "ClusteringAAE", "DimRedAAE", "DimRedClusteringAAE", "LabelPriorAAE", "Model", "Phase",
           "SemiSupervisedAAE", "SupervisedAAE", "build_model"]


def net_spec(cfg: Config, x_dim: int, image_shape: Sequence[int] | None = None) -> NetSpec:
    """The config's encoder and decoder for data of ``image_shape`` ((H, W) images; None or (D,):
    flat data of ``x_dim`` values); a conv net on flat data stops with one line."""
    m = cfg.model
    shape = tuple(int(d) for d in image_shape) if image_shape else (x_dim,)
    if math.prod(shape) != x_dim:
        raise ValueError(f"an image shape of {shape} does not hold {x_dim} values")
    if m.nets == "conv" and len(shape) != 2:
        raise ConfigError(f"config key 'model.nets': conv nets need (height, width) images, and these data are "
                          f"{'flat, ' + str(x_dim) + ' values each' if len(shape) == 1 else 'of shape ' + str(shape)}")
    return NetSpec(shape, tuple(m.encoder_hidden), tuple(m.decoder_hidden), m.init_std, m.nets,
                   tuple(m.conv_channels), m.all_conv, m.no_fc, m.batchnorm, m.dropout)


def build_model(cfg: Config, x_dim: int, image_shape: Sequence[int] | None = None) -> Model:
    """The config's model for data of ``x_dim`` values per image, of ``image_shape`` where known
    (conv nets need it)."""
    m = cfg.model
    prior = build_prior(cfg.prior, m.code_dim)
    common = dict(
        x_dim=x_dim, code_dim=m.code_dim, prior=prior, encoder_hidden=m.encoder_hidden,
        decoder_hidden=m.decoder_hidden, init_std=m.init_std, recon_loss=m.recon_loss,
        input_noise=m.input_noise, nets=net_spec(cfg, x_dim, image_shape),
    )
    if m.kind == "vae":
        return VAE(**common)
    common["discriminator_batchnorm"] = m.discriminator_batchnorm
    common["discriminator_dropout"] = m.discriminator_dropout
    if m.kind in CATEGORICAL_KINDS:
        common["minibatch_adversary"] = m.minibatch_adversary
    if m.kind == "aae":
        return AAE(discriminator_hidden=m.discriminator_hidden, posterior=m.posterior, **common)
    if m.kind == "supervised_aae":
        return SupervisedAAE(discriminator_hidden=m.discriminator_hidden, n_classes=m.n_classes,
                             adversary_sees_label=m.adversary_sees_label, **common)
    if m.kind == "semisupervised_aae":
        return SemiSupervisedAAE(discriminator_hidden=m.discriminator_hidden, n_classes=m.n_classes,
                                 classifier_only=m.classifier_only, style_sees_class=m.adversary_sees_label,
                                 labelled_shift=m.labelled_shift, style_noise=m.style_noise,
                                 input_shift=m.input_shift, **common)
    if m.kind == "clustering_aae":
        return ClusteringAAE(discriminator_hidden=m.discriminator_hidden, n_clusters=m.n_clusters,
                             style_sees_class=m.adversary_sees_label, style_noise=m.style_noise,
                             input_shift=m.input_shift, **common)
    if m.kind == "dimred_aae":
        return DimRedAAE(discriminator_hidden=m.discriminator_hidden, n_classes=m.n_classes,
                         labelled_shift=m.labelled_shift, head_margin=m.head_margin, **common)
    if m.kind == "dimred_clustering_aae":
        return DimRedClusteringAAE(discriminator_hidden=m.discriminator_hidden, n_clusters=m.n_clusters,
                                   head_margin=m.head_margin, **common)
    if m.kind == "label_aae":
        return LabelPriorAAE(discriminator_hidden=m.discriminator_hidden, **common)
    raise ValueError(f"unknown model kind {m.kind!r}")

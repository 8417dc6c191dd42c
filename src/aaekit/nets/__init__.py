"""The nets a model's encoder and decoder are made of: the paper's MLPs or convolutional ones."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from aaekit.nets.conv import ConvDecoder, ConvEncoder
from aaekit.nets.mlp import MLP, alive_units

__all__ = ["MLP", "ConvDecoder", "ConvEncoder", "CustomNets", "NetSpec", "alive_units"]


@dataclass(frozen=True)
class NetSpec:
    """How a model builds its encoder (image -> ``out_dim``) and decoder (``in_dim`` -> image logits).
    ``kind`` "mlp": the paper's fully connected nets of ``encoder_hidden`` / ``decoder_hidden``;
    "conv": :mod:`aaekit.nets.conv` on (H, W) images, with ``channels`` per stage, the hidden sizes
    as its fully connected layers and the three DCGAN switches. ``batchnorm`` applies to both kinds,
    ``dropout`` (after each hidden ReLU, in training only) to the MLPs."""

    image_shape: tuple[int, ...]  # (D,) for flat data, (H, W) for images
    encoder_hidden: Sequence[int] = (1000, 1000)
    decoder_hidden: Sequence[int] = (1000, 1000)
    init_std: float | None = 0.01
    kind: str = "mlp"
    channels: Sequence[int] = (32, 64)
    all_conv: bool = False
    no_fc: bool = False
    batchnorm: bool = False
    dropout: float = 0.0

    @property
    def x_dim(self) -> int:
        return math.prod(self.image_shape)

    def encoder(self, out_dim: int) -> nn.Module:
        if self.kind == "mlp":
            return MLP(self.x_dim, self.encoder_hidden, out_dim, self.init_std, self.batchnorm, dropout=self.dropout)
        return ConvEncoder(self.image_shape, out_dim, self.channels, self.encoder_hidden, self.all_conv, self.no_fc,
                           self.batchnorm, self.init_std)

    def decoder(self, in_dim: int) -> nn.Module:
        if self.kind == "mlp":
            return MLP(in_dim, self.decoder_hidden, self.x_dim, self.init_std, self.batchnorm, first_bn=True,
                       dropout=self.dropout)
        return ConvDecoder(in_dim, self.image_shape, self.channels, self.decoder_hidden, self.all_conv, self.no_fc,
                           self.batchnorm, self.init_std)


@dataclass(frozen=True)
class CustomNets:
    """Your own nets for any aaekit model, from Python: pass ``nets=CustomNets(...)`` to the model's
    constructor in place of a :class:`NetSpec`. Each field makes a new ``nn.Module`` of the width
    the model asks for: ``encoder(out_dim)`` maps flat images (B, prod(image_shape)) to (B, out_dim),
    ``decoder(in_dim)`` maps (B, in_dim) to image logits (B, prod(image_shape)), and
    ``discriminator(in_dim)`` (optional; None: the model's MLP) maps (B, in_dim) to (B, 1) logits,
    "prior sample" > 0. A model with two adversaries calls it once for each."""

    encoder: Callable[[int], nn.Module]
    decoder: Callable[[int], nn.Module]
    image_shape: tuple[int, ...]
    discriminator: Callable[[int], nn.Module] | None = None

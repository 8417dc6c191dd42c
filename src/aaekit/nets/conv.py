"""Convolutional encoder and decoder, with the three DCGAN switches (Radford et al. 2015).

Both take and give flat images (B, H*W), as the MLPs do, so every model works with either.

- The base (all switches off) is a classic CNN. Encoder: per stage a 3 x 3 convolution, ReLU and a
  2 x 2 max-pooling; then fully connected ReLU hidden layers and a linear output. Decoder: fully
  connected ReLU hidden layers, a linear map to the smallest feature map, then per stage a
  nearest-neighbour upsampling and a 3 x 3 convolution, the last one to the image's logits.
- ``all_conv``: strided 3 x 3 convolutions (stride 2) in place of pooling, and transposed
  (fractional-strided) 3 x 3 convolutions in place of upsampling.
- ``no_fc``: no fully connected hidden layers: the last feature map is flattened straight into the
  linear output (encoder), and the code is mapped linearly straight onto the first feature map
  (decoder's "project and reshape").
- ``batchnorm``: batch normalization after every convolution and hidden layer, except the encoder's
  first layer (it reads the image) and the decoder's output layer.

Each stage halves the image (rounding up: 28 -> 14 -> 7, 5 -> 3 -> 2), and the decoder's stages grow
back to exactly the sizes the encoder's stages saw, so odd and non-square images work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from aaekit.nets.mlp import MLP


def _stage_sizes(image: tuple[int, int], stages: int) -> list[tuple[int, int]]:
    """The feature-map size before each stage and after the last: halving, rounding up."""
    sizes = [image]
    for _ in range(stages):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _init(net: nn.Module, init_std: float | None) -> None:
    if init_std is None:
        return
    for m in net.modules():
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, init_std)
            nn.init.zeros_(m.bias)


class ConvEncoder(nn.Module):
    def __init__(self, image_shape: Sequence[int], out_dim: int, channels: Sequence[int] = (32, 64),
                 hidden: Sequence[int] = (1000,), all_conv: bool = False, no_fc: bool = False,
                 batchnorm: bool = False, init_std: float | None = None) -> None:
        super().__init__()
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        conv: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(channels):
            conv.append(nn.Conv2d(c_in, c, 3, stride=2 if all_conv else 1, padding=1))
            if batchnorm and i > 0:  # never on the layer that reads the image
                conv.append(nn.BatchNorm2d(c))
            conv.append(nn.ReLU(inplace=True))
            if not all_conv:
                conv.append(nn.MaxPool2d(2, ceil_mode=True))
            c_in = c
        self.conv = nn.Sequential(*conv)
        h, w = _stage_sizes(self.image_shape, len(channels))[-1]
        flat = c_in * h * w
        # the fully connected part: hidden layers (none with no_fc), then the linear output
        self.fc = MLP(flat, [] if no_fc else hidden, out_dim, None, batchnorm, first_bn=True)
        _init(self, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.reshape(len(x), 1, *self.image_shape))
        return self.fc(h.flatten(1))


class ConvDecoder(nn.Module):
    def __init__(self, in_dim: int, image_shape: Sequence[int], channels: Sequence[int] = (32, 64),
                 hidden: Sequence[int] = (1000,), all_conv: bool = False, no_fc: bool = False,
                 batchnorm: bool = False, init_std: float | None = None) -> None:
        super().__init__()
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        sizes = _stage_sizes(self.image_shape, len(channels))
        self.start = (channels[-1], *sizes[-1])  # the smallest feature map, the encoder's last
        start = channels[-1] * sizes[-1][0] * sizes[-1][1]
        # hidden layers (none with no_fc), then the linear map onto the first feature map
        project: list[nn.Module] = [MLP(in_dim, [] if no_fc else hidden, start, None, batchnorm, first_bn=True)]
        if batchnorm:
            project.append(nn.BatchNorm1d(start))
        project.append(nn.ReLU(inplace=True))
        self.fc = nn.Sequential(*project)
        up: list[nn.Module] = []
        outs = [*reversed(channels[:-1]), 1]  # the channels after each stage; the last is the image
        c_in = channels[-1]
        for i, c in enumerate(outs):
            (h, w), (th, tw) = sizes[-1 - i], sizes[-2 - i]
            if all_conv:  # (n - 1) * 2 - 2 + 3 + extra = 2n - 1 + extra
                up.append(nn.ConvTranspose2d(c_in, c, 3, stride=2, padding=1,
                                             output_padding=(th - (2 * h - 1), tw - (2 * w - 1))))
            else:
                up += [nn.Upsample(size=(th, tw), mode="nearest"), nn.Conv2d(c_in, c, 3, padding=1)]
            if i < len(outs) - 1:  # the output layer: logits, no normalization, no ReLU
                if batchnorm:
                    up.append(nn.BatchNorm2d(c))
                up.append(nn.ReLU(inplace=True))
            c_in = c
        self.up = nn.Sequential(*up)
        _init(self, init_std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).reshape(len(z), *self.start)
        return self.up(h).flatten(1)

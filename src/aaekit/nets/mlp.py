"""The paper's fully connected nets (Appendix A: 2 x 1000 ReLU, weights ~ N(0, 0.01^2))."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """Linear -> ReLU for each hidden size, then a linear output layer (logits / codes).
    ``batchnorm``: batch normalization before each hidden ReLU, except the first layer's unless
    ``first_bn`` (DCGAN: never on the layer that reads an image or a discriminator's input).
    ``dropout``: the probability of zeroing each hidden unit after its ReLU, in training only."""

    def __init__(
        self, in_dim: int, hidden: Sequence[int], out_dim: int, init_std: float | None = 0.01,
        batchnorm: bool = False, first_bn: bool = False, dropout: float = 0.0,
    ) -> None:
        layers: list[nn.Module] = []
        sizes = [in_dim, *hidden]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if batchnorm and (i > 0 or first_bn):
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU(inplace=True))
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-1], out_dim))
        super().__init__(*layers)
        if init_std is not None:
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, init_std)
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)


@torch.no_grad()
def alive_units(net: nn.Module, x: torch.Tensor) -> float:
    """Fraction of a net's hidden ReLU units (an MLP's units, a convolution's channels) active for at
    least one input of ``x``: large adversarial steps can silence most of an encoder's units for good
    ("dead ReLUs"). Runs ``net`` once on ``x``, in eval mode."""
    counts = [0, 0]

    def count(_module, _inputs, out):
        per_unit = (out > 0).flatten(2).any(2) if out.dim() > 2 else out > 0  # a channel: any position
        counts[0] += int(per_unit.any(0).sum())
        counts[1] += per_unit.shape[1]

    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    hooks = [m.register_forward_hook(count) for m in relus]
    was_training = net.training
    try:
        net.eval()
        net(x)
    finally:
        net.train(was_training)
        for h in hooks:
            h.remove()
    return counts[0] / counts[1] if counts[1] else 1.0

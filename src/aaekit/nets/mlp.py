"""The paper's fully connected nets (Appendix A: 2 x 1000 ReLU, weights ~ N(0, 0.01^2))."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """Linear -> ReLU for each hidden size, then a linear output layer (logits / codes)."""

    def __init__(
        self, in_dim: int, hidden: Sequence[int], out_dim: int, init_std: float | None = 0.01
    ) -> None:
        layers: list[nn.Module] = []
        sizes = [in_dim, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
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
    def alive_units(self, x: torch.Tensor) -> float:
        """Fraction of hidden ReLU units active for at least one input of ``x``: large adversarial
        steps can silence most of an encoder's units for good ("dead ReLUs")."""
        alive, total = 0, 0
        for layer in self:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                alive += int((x > 0).any(0).sum())
                total += x.shape[1]
        return alive / total if total else 1.0

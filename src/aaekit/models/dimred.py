"""Dimensionality reduction with adversarial autoencoders (paper Sec. 7, Figs. 10-11).

The semi-supervised and clustering models, but the decoder reads one n-D code, ``W_C y + z``: y the
encoder's softmax over m clusters (under Cat(m)), W_C an m x n matrix of learned cluster heads, z
the n-D style (under the Gaussian prior). The adversaries act on y and z as before. An extra cost
in the reconstruction phase pushes apart every pair of cluster heads closer than ``head_margin``
(the paper's threshold eta): ``sum over pairs of max(0, eta - |w_i - w_j|)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aaekit.data.loader import Batch
from aaekit.models.semisupervised import ClusteringAAE, SemiSupervisedAAE


class _ReducedCode:
    """What both dimensionality-reduction models add to their parent: the code [y, z] (what the
    adversaries and measures see, as in the parent) is decoded as ``W_C y + z``."""

    n_classes: int
    style_dim: int
    x_dim: int
    cluster_heads: nn.Parameter

    def decoder_input_dim(self) -> int:
        """The decoder reads the n-D reduced code, not [y, z]."""
        return self.style_dim

    def _reduce_code(self, head_margin: float) -> None:
        # W_C, one row per cluster; N(0, 1), the scale of the style's prior (the paper gives none)
        self.cluster_heads = nn.Parameter(torch.randn(self.n_classes, self.style_dim))
        self.head_margin = head_margin

    def reduce(self, code: torch.Tensor) -> torch.Tensor:
        """``W_C y + z`` of codes [y, z]."""
        y, z = code[:, : self.n_classes], code[:, self.n_classes :]
        return (y.float() @ self.cluster_heads).to(z.dtype) + z

    def decode_logits(self, z, y=None):
        return self.decoder(self.reduce(z))

    def head_penalty(self) -> torch.Tensor:
        """``sum over pairs i < j of max(0, head_margin - |w_i - w_j|)``: zero for heads at least
        ``head_margin`` apart, and a push apart for closer ones."""
        if self.head_margin <= 0:
            return self.cluster_heads.new_zeros(())
        return F.relu(self.head_margin - torch.pdist(self.cluster_heads.float())).sum()

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        return [*super().autoencoder_parameters(), self.cluster_heads]  # type: ignore[misc]

    def reconstruction_loss(self, batch: Batch):
        penalty = self.head_penalty()
        return super().reconstruction_loss(batch) + penalty, {"head_penalty": penalty.detach()}  # type: ignore[misc]

    @torch.no_grad()
    def encode_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The parent's outputs and the n-D code ``W_C y + z`` (``reduced``)."""
        out = super().encode_outputs(x)  # type: ignore[misc]
        return {**out, "reduced": self.reduce(out["codes"])}  # type: ignore[attr-defined]

    @torch.no_grad()
    def reduced_codes(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The n-D code ``W_C y + z`` of each image."""
        return torch.cat([self.reduce(self.encode(x[i : i + batch_size])).float()  # type: ignore[attr-defined]
                          for i in range(0, len(x), batch_size)])

    def final_evaluation(self, splits, device, out_dir: Path | None) -> dict[str, Any]:
        """The parent's measures, the smallest distance between two cluster heads and, with
        ``out_dir``, ``reduced.npz`` (the test images' n-D codes, their labels, the heads) and, for a
        2-D code, ``map.png`` (Fig. 11: the test codes coloured by label, the heads marked)."""
        out = super().final_evaluation(splits, device, out_dir)  # type: ignore[misc]
        heads = self.cluster_heads.detach().float().cpu()
        out["head_min_distance"] = float(torch.pdist(heads).min()) if len(heads) > 1 else 0.0
        if out_dir is None:
            return out
        from aaekit.report import figures

        z = self.reduced_codes(splits.test.floats(device)).cpu().numpy()
        y = None if splits.test.y is None else splits.test.y.numpy()
        np.savez_compressed(out_dir / "reduced.npz", z=z, y=y if y is not None else np.zeros(0), heads=heads.numpy())
        if self.style_dim == 2:
            figures.save_codes(z, y, out_dir / "map.png", heads=heads.numpy(),
                               title=f"{self.kind}: test codes W_C y + z, cluster heads marked")
        return out


class DimRedAAE(_ReducedCode, SemiSupervisedAAE):
    """Semi-supervised dimensionality reduction (Fig. 11a-b): m = ``n_classes`` clusters, and the
    classification phase on the labelled images."""

    kind = "dimred_aae"

    def __init__(self, x_dim: int, code_dim: int, prior, head_margin: float = 0.0, **kwargs: Any) -> None:
        SemiSupervisedAAE.__init__(self, x_dim, code_dim, prior, **kwargs)
        self._reduce_code(head_margin)


class DimRedClusteringAAE(_ReducedCode, ClusteringAAE):
    """Unsupervised dimensionality reduction (Fig. 11c): m = ``n_clusters`` clusters, no labels."""

    kind = "dimred_clustering_aae"

    def __init__(self, x_dim: int, code_dim: int, prior, head_margin: float = 0.0, **kwargs: Any) -> None:
        ClusteringAAE.__init__(self, x_dim, code_dim, prior, **kwargs)
        self._reduce_code(head_margin)

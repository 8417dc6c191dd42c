"""Mini-batches sliced from a resident tensor by a seeded per-epoch permutation (no DataLoader)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from aaekit.data import ArrayDataset


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Images as float32 in [0, 1] (uint8 is scaled by 1/255)."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


@dataclass
class Batch:
    x: torch.Tensor  # float images in [0, 1], (B, D)
    y: torch.Tensor | None = None  # int64 labels, (B,)
    step: int = 0  # global step of this batch (phases with every > 1 use it)


class BatchLoader:
    """Holds the data on the training device once (uint8 where it came so) and yields float batches.

    The order of epoch ``e`` is a permutation seeded by ``(seed, e)`` alone, so a resumed run sees
    exactly the batches an uninterrupted one would, with no loader state to save.
    """

    def __init__(
        self,
        data: ArrayDataset,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
        drop_last: bool = False,
    ) -> None:
        self.x = data.x.to(device)
        self.y = None if data.y is None else data.y.to(device)
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.x), generator=g).to(self.device)

    def epoch(self, epoch: int, first_step: int = 0) -> Iterator[Batch]:
        perm = self.permutation(epoch)
        for i in range(len(self)):
            idx = perm[i * self.batch_size : (i + 1) * self.batch_size]
            yield Batch(to_float(self.x[idx]), None if self.y is None else self.y[idx], first_step + i)

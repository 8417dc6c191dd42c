"""Mini-batches sliced from a resident tensor by a seeded per-epoch permutation (no DataLoader)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from aaekit.data import ArrayDataset


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Images as float32 in [0, 1] (uint8 is scaled by 1/255)."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


@dataclass
class Batch:
    """One mini-batch; under data parallelism, this process's rows of the global batch.

    Random draws a loss makes per image (prior samples, input noise) go through :meth:`draw`, so
    that N processes with shards of a global batch draw exactly what one process would for all of it.
    """

    x: torch.Tensor  # float images in [0, 1], (B, D)
    y: torch.Tensor | None = None  # int64 labels, (B,)
    step: int = 0  # global step of this batch (phases with every > 1 use it)
    # Data parallelism: this shard starts at row ``start`` of a global batch of ``global_n`` images
    # labelled ``global_y``; None: the batch is the whole global batch.
    global_n: int | None = None
    global_y: torch.Tensor | None = None
    start: int = 0
    # what one phase leaves for a later phase of the same batch (e.g. the AAE's codes)
    cache: dict = field(default_factory=dict)

    def draw(self, sampler: Callable[[torch.Tensor | None, int], Any]) -> Any:
        """``sampler(y, n)`` draws rows for ``n`` images labelled ``y``; called for the global batch,
        and this shard's rows are returned (each tensor of a tuple sliced alike, None kept)."""
        if self.global_n is None:
            return sampler(self.y, len(self.x))
        out = sampler(self.global_y, self.global_n)
        rows = slice(self.start, self.start + len(self.x))
        if isinstance(out, tuple):
            return tuple(None if o is None else o[rows] for o in out)
        return out[rows]


class BatchLoader:
    """Holds the data on the training device once (uint8 where it came so) and yields float batches.

    The order of epoch ``e`` is a permutation seeded by ``(seed, e)`` alone, so a resumed run sees
    exactly the batches an uninterrupted one would, with no loader state to save.

    With ``world`` > 1 processes (data parallelism), ``batch_size`` is the global batch: every
    process computes the same permutation and takes its ``rank``-th equal share of each global
    batch. A last global batch that does not split evenly is left out (a warning says so).
    """

    def __init__(
        self,
        data: ArrayDataset,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
        drop_last: bool = False,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if batch_size % world:
            raise ValueError(f"the batch size {batch_size} does not split evenly over {world} processes")
        self.x = data.x.to(device)
        self.y = None if data.y is None else data.y.to(device)
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        self.rank, self.world = rank, world
        self._labelled: torch.Tensor | None = None  # positions of the labelled images
        self._pass: tuple[int, torch.Tensor] | None = None  # the last labelled pass's permutation
        last = len(self.x) % batch_size
        self.drop_last = drop_last or last % world != 0
        if self.drop_last and last and not drop_last:
            log.warning("the last %d images of each epoch do not split over %d processes: left out", last, world)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def labelled(self, step: int) -> Batch:
        """The labelled mini-batch of global step ``step`` (phases with ``source="labelled"``): the
        labelled images (label >= 0) in a stream of seeded permutations, one per pass over them,
        seeded by (seed, pass) alone; step s takes the stream's images s*B to (s+1)*B - 1. So every
        labelled image is drawn once per pass, and a resumed run draws what an uninterrupted one would."""
        idx = self.labelled_indices(step)
        if self.world == 1:
            return Batch(to_float(self.x[idx]), self.y[idx], step)
        share = len(idx) // self.world
        mine = idx[self.rank * share : (self.rank + 1) * share]
        return Batch(to_float(self.x[mine]), self.y[mine], step, global_n=len(idx), global_y=self.y[idx],
                     start=self.rank * share)

    def labelled_indices(self, step: int) -> torch.Tensor:
        """The rows of the data that :meth:`labelled` takes at global step ``step`` (all processes')."""
        if self._labelled is None:
            if self.y is None or not bool((self.y >= 0).any()):
                raise ValueError("a phase trains on labelled images, and the training set has none")
            self._labelled = (self.y >= 0).nonzero().squeeze(1)
        pool, b = self._labelled, self.batch_size
        n = len(pool)
        first, last = step * b // n, ((step + 1) * b - 1) // n
        stream = torch.cat([self._labelled_pass(c) for c in range(first, last + 1)])
        return pool[stream[step * b - first * n : (step + 1) * b - first * n]]

    def _labelled_pass(self, c: int) -> torch.Tensor:
        if self._pass is None or self._pass[0] != c:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + 500_009 + c)  # apart from the epochs' seeds
            # drawn on the CPU (the same numbers on any device), kept on the data's device: one copy per pass
            self._pass = (c, torch.randperm(len(self._labelled), generator=g).to(self._labelled.device))
        return self._pass[1]

    def permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.x), generator=g).to(self.device)

    def epoch_indices(self, epoch: int) -> Iterator[torch.Tensor]:
        """The rows of each global batch of epoch ``epoch``, in order."""
        perm = self.permutation(epoch)
        for i in range(len(self)):
            yield perm[i * self.batch_size : (i + 1) * self.batch_size]

    def batch(self, idx: torch.Tensor, step: int = 0) -> Batch:
        """The mini-batch of the rows ``idx`` (one process: all of them)."""
        return Batch(to_float(self.x[idx]), None if self.y is None else self.y[idx], step)

    def epoch(self, epoch: int, first_step: int = 0) -> Iterator[Batch]:
        for i, idx in enumerate(self.epoch_indices(epoch)):
            if self.world == 1:
                yield self.batch(idx, first_step + i)
                continue
            share = len(idx) // self.world
            mine = idx[self.rank * share : (self.rank + 1) * share]
            yield Batch(to_float(self.x[mine]), None if self.y is None else self.y[mine], first_step + i,
                        global_n=len(idx), global_y=None if self.y is None else self.y[idx],
                        start=self.rank * share)

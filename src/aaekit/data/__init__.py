"""Data sets as resident tensors: MNIST or the user's arrays, split into train / val / test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aaekit.config import DataConfig
from aaekit.data.arrays import load_arrays
from aaekit.data.loader import Batch, BatchLoader, to_float
from aaekit.data.mnist import FILES, DataError, load_mnist, resolve_data_dir, sha256

__all__ = [
    "ArrayDataset", "Batch", "BatchLoader", "DataError", "Splits", "load_splits", "resolve_data_dir",
]


@dataclass
class ArrayDataset:
    """Flattened images ``x`` (N, D), uint8 in [0, 255] or float in [0, 1], and labels ``y`` or None."""

    x: torch.Tensor
    y: torch.Tensor | None
    image_shape: tuple[int, ...]
    # each image's position in the file it came from (MNIST's training or test file, the user's array)
    index: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    def floats(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """All images as float32 in [0, 1] on ``device``."""
        return to_float(self.x.to(device))

    def subset(self, index: np.ndarray | torch.Tensor) -> ArrayDataset:
        index = torch.as_tensor(index)
        return ArrayDataset(self.x[index], None if self.y is None else self.y[index], self.image_shape,
                            None if self.index is None else self.index[index])


@dataclass
class Splits:
    train: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset
    # SHA-256 of the data's files (MNIST: of its four files' published checksums, which
    # load_mnist verified): what a checkpoint records to know its data wherever they are read from
    data_id: str | None = None

    def __getitem__(self, name: str) -> ArrayDataset:
        if name not in ("train", "val", "test"):
            raise KeyError(f"unknown split {name!r}; use train, val or test")
        return getattr(self, name)


def _dataset(x: np.ndarray, y: np.ndarray | None) -> ArrayDataset:
    image_shape = tuple(x.shape[1:])
    flat = torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), -1))
    return ArrayDataset(flat, None if y is None else torch.from_numpy(y), image_shape, torch.arange(len(x)))


def hide_labels(data: ArrayDataset, n_labelled: int, seed: int) -> ArrayDataset:
    """``data`` with the labels of all but ``n_labelled`` images replaced by -1 ("no label"). The
    labelled images are drawn at random with ``seed``, the same number from each class (the first
    ``n_labelled % n_classes`` classes of a seeded order get one more)."""
    if data.y is None:
        raise DataError("data.labelled is set but the data set has no labels")
    if n_labelled > len(data):
        raise DataError(f"data.labelled={n_labelled} exceeds the {len(data)} training images")
    g = torch.Generator().manual_seed(seed)
    classes = torch.unique(data.y)
    quota = torch.full((len(classes),), n_labelled // len(classes))
    quota[torch.randperm(len(classes), generator=g)[: n_labelled % len(classes)]] += 1
    keep = []
    for c, q in zip(classes.tolist(), quota.tolist(), strict=True):
        members = (data.y == c).nonzero().squeeze(1)
        if q > len(members):
            raise DataError(f"data.labelled={n_labelled} asks {q} images of class {c}, which has {len(members)}")
        keep.append(members[torch.randperm(len(members), generator=g)[:q]])
    y = torch.full_like(data.y, -1)
    index = torch.cat(keep)
    y[index] = data.y[index]
    return ArrayDataset(data.x, y, data.image_shape, data.index)


def load_splits(cfg: DataConfig, seed: int = 0) -> Splits:
    """Train / validation / test. The validation images are carved from the training set by a
    permutation seeded with ``cfg.split_seed`` (fixed across runs), so model choices never see test.
    With ``cfg.labelled``, only that many training images keep their labels (drawn with
    ``cfg.labelled_seed``, else ``seed``: the run's)."""
    if cfg.dataset == "mnist":
        arrays = load_mnist(cfg.data_dir, cfg.download)
        pool = _dataset(arrays["x_train"], arrays["y_train"])
        test = _dataset(arrays["x_test"], arrays["y_test"])
        data_id = hashlib.sha256(" ".join(f"{k}:{v}" for k, v in sorted(FILES.items())).encode()).hexdigest()
    else:
        x, y = load_arrays(cfg.dataset)
        pool = _dataset(x, y)
        test = None
        data_id = sha256(Path(cfg.dataset))
    n = len(pool)
    n_held = cfg.val_size * (1 if test is not None else 2)
    if n_held >= n:
        raise DataError(
            f"data.val_size={cfg.val_size} leaves no training images out of {n}; lower data.val_size"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.split_seed))
    val = pool.subset(perm[: cfg.val_size])
    if test is None:  # user arrays without a test set: a second held-out block of the same size
        test = pool.subset(perm[cfg.val_size : n_held])
    train_idx = perm[n_held:]
    if cfg.train_subset is not None:
        train_idx = train_idx[: cfg.train_subset]
    train = pool.subset(train_idx)
    if cfg.labelled is not None:
        train = hide_labels(train, cfg.labelled, seed if cfg.labelled_seed is None else cfg.labelled_seed)
    return Splits(train, val, test, data_id)

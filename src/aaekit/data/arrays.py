"""User data: images (and labels) from .npy / .npz files, into the same form as MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aaekit.data.mnist import DataError

IMAGE_KEYS = ("x", "images", "x_train", "data")
LABEL_KEYS = ("y", "labels", "y_train", "targets")


def load_arrays(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images of shape (N, ...) and labels (N,) or None.

    A ``.npy`` file holds the images alone; a ``.npz`` holds images under one of ``x``/``images``/
    ``x_train``/``data`` and, optionally, integer labels under ``y``/``labels``/``y_train``/``targets``.
    Images are uint8 in [0, 255] or floats in [0, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist; give the path of a .npy or .npz file")
    try:
        if path.suffix == ".npy":
            x, y = np.load(path, allow_pickle=False), None
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                xk = next((k for k in IMAGE_KEYS if k in z.files), None)
                if xk is None:
                    raise DataError(
                        f"{path}: no images found; store them under one of {', '.join(IMAGE_KEYS)} "
                        f"(file has {', '.join(z.files) or 'nothing'})"
                    )
                yk = next((k for k in LABEL_KEYS if k in z.files), None)
                x, y = z[xk], (z[yk] if yk else None)
        else:
            raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .npy or .npz")
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: cannot be read as a numpy file ({e})") from None
    return _check(x, y, path)


def _check(x: np.ndarray, y: np.ndarray | None, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{path}: images must have shape (N, ...) with N > 0, got {x.shape}")
    if x.ndim == 4 and x.shape[3] == 1:  # one channel last: (N, H, W, 1)
        x = x[..., 0]
    elif x.ndim == 4 and x.shape[1] == 1:  # one channel first: (N, 1, H, W)
        x = x[:, 0]
    if x.ndim > 3:
        raise DataError(f"{path}: images of shape {x.shape} have several channels; aaekit models grey images "
                        "(N, H, W) or flat vectors (N, D): convert to grey or reshape to (N, D)")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating):
            raise DataError(f"{path}: images must be uint8 or float, got {x.dtype}")
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise DataError(f"{path}: float images must be finite and in [0, 1]")
        x = x.astype(np.float32)
    if y is not None:
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: labels must be integers of shape ({len(x)},), got {y.dtype} {y.shape}")
        if y.min() < 0:
            raise DataError(f"{path}: labels must be >= 0")
        y = y.astype(np.int64)
    return x, y

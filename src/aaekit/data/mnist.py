"""MNIST from the four original IDX files: our own reader, SHA-256 checked, downloaded if missing."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class DataError(RuntimeError):
    """A data file is missing, truncated or altered; the message is one line naming it and the fix."""


# SHA-256 of the canonical gzipped files (LeCun, Cortes, Burges), as published.
FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else ``$AAEKIT_DATA``, else ``./data/mnist``."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("AAEKIT_DATA")
    return Path(env).expanduser() if env else Path("data/mnist")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array of its stored type and shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot be read ({e}); delete it and fetch it again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number); delete it and fetch it again")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path}: holds {len(data)} bytes, its header promises {expected}; "
            "the file is truncated or corrupt, delete it and fetch it again"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _download(name: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    errors = []
    for mirror in MIRRORS:
        try:
            log.info("downloading %s from %s", name, mirror)
            with urllib.request.urlopen(mirror + name, timeout=30) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f)
            os.replace(tmp, dest)
            return
        except OSError as e:
            errors.append(f"{mirror}: {e}")
    tmp.unlink(missing_ok=True)
    raise DataError(
        f"{dest} is missing and could not be downloaded ({'; '.join(errors)}); "
        f"copy the MNIST files into {dest.parent} or pass --data-dir"
    )


def check_files(root: Path, download: bool = True) -> None:
    """Make sure the four files are in ``root`` with the right SHA-256, downloading missing ones."""
    for name, digest in FILES.items():
        path = root / name
        if not path.is_file():
            if not download:
                raise DataError(
                    f"{path} is missing; copy the MNIST files there, set $AAEKIT_DATA or pass --data-dir"
                )
            _download(name, path)
        actual = sha256(path)
        if actual != digest:
            raise DataError(
                f"{path} has SHA-256 {actual[:12]}…, expected {digest[:12]}… (truncated or altered); "
                "delete it and fetch it again"
            )


def load_mnist(
    data_dir: str | os.PathLike | None = None, download: bool = True
) -> dict[str, np.ndarray]:
    """All of MNIST as uint8 images (N, 28, 28) and int64 labels: keys x_train, y_train, x_test, y_test."""
    root = resolve_data_dir(data_dir)
    check_files(root, download)
    arrays = {
        "x_train": read_idx(root / "train-images-idx3-ubyte.gz"),
        "y_train": read_idx(root / "train-labels-idx1-ubyte.gz").astype(np.int64),
        "x_test": read_idx(root / "t10k-images-idx3-ubyte.gz"),
        "y_test": read_idx(root / "t10k-labels-idx1-ubyte.gz").astype(np.int64),
    }
    return arrays

import os
from pathlib import Path

import numpy as np
import pytest

from aaekit.config import from_dict

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def mnist_dir() -> Path | None:
    for d in (os.environ.get("AAEKIT_DATA"), SHARED_MNIST):
        if d and (Path(d) / "train-images-idx3-ubyte.gz").is_file():
            return Path(d)
    return None


@pytest.fixture
def mnist():
    d = mnist_dir()
    if d is None:
        pytest.skip("MNIST files not found: set AAEKIT_DATA to the folder holding them")
    return d


def make_images(n: int = 400, side: int = 8, classes: int = 4, seed: int = 0):
    """Tiny synthetic 'digits': one random prototype per class plus noise, uint8 (n, side, side)."""
    rng = np.random.default_rng(seed)
    protos = rng.random((classes, side * side)) > 0.6
    y = rng.integers(classes, size=n)
    x = np.clip(protos[y] * 0.9 + rng.normal(0, 0.1, (n, side * side)), 0, 1)
    return (x * 255).astype(np.uint8).reshape(n, side, side), y.astype(np.int64)


@pytest.fixture
def tiny_npz(tmp_path):
    x, y = make_images()
    path = tmp_path / "tiny.npz"
    np.savez(path, x=x, y=y)
    return path


def tiny_config(npz, out, **over):
    """A config small enough to train in a second: 64-pixel images, 32-unit nets."""
    values = {
        "name": "tiny",
        "out_dir": str(out),
        "data": {"dataset": str(npz), "val_size": 50},
        "model": {"kind": "aae", "code_dim": 2, "encoder_hidden": [32, 32],
                  "decoder_hidden": [32, 32], "discriminator_hidden": [32, 32], "init_std": 0.1},
        "prior": {"kind": "gaussian"},
        "train": {"epochs": 2, "batch_size": 20, "precision": "fp32", "progress": False,
                  "device": "cpu"},
    }
    for key, value in over.items():
        section, _, field = key.partition("__")
        if field:
            values.setdefault(section, {})[field] = value
        else:
            values[section] = value
    return from_dict(values)


@pytest.fixture
def tiny(tiny_npz, tmp_path):
    return lambda out="run", **over: tiny_config(tiny_npz, tmp_path / out, **over)

import gzip
import shutil

import numpy as np
import pytest
import torch

from aaekit.config import DataConfig
from aaekit.data import BatchLoader, DataError, load_splits
from aaekit.data.arrays import load_arrays
from aaekit.data.mnist import FILES, check_files, read_idx, resolve_data_dir


def write_idx(path, array: np.ndarray, gz: bool = True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_idx_reader_roundtrip(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (5, 3, 4)).astype(np.uint8)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "a.idx", a, gz=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), a)
    assert np.array_equal(read_idx(tmp_path / "a.idx"), a)


def test_idx_reader_rejects_truncated_and_foreign(tmp_path):
    a = np.zeros((5, 3, 4), np.uint8)
    write_idx(tmp_path / "a.idx", a, gz=False)
    raw = (tmp_path / "a.idx").read_bytes()
    (tmp_path / "t.idx").write_bytes(raw[:-7])
    with pytest.raises(DataError, match="t.idx: holds .* bytes, its header promises"):
        read_idx(tmp_path / "t.idx")
    (tmp_path / "f.idx").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "f.idx")


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("AAEKIT_DATA", raising=False)
    assert str(resolve_data_dir()) == "data/mnist"
    monkeypatch.setenv("AAEKIT_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert str(resolve_data_dir("elsewhere")) == "elsewhere"


def test_missing_and_altered_files_name_the_file(tmp_path, mnist):
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz is missing") as e:
        check_files(tmp_path, download=False)
    assert "\n" not in str(e.value)
    for name in FILES:
        shutil.copy(mnist / name, tmp_path / name)
    check_files(tmp_path, download=False)
    victim = tmp_path / "t10k-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-10])  # truncated
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz has SHA-256 .* expected"):
        check_files(tmp_path, download=False)


def test_mnist_splits(mnist):
    s = load_splits(DataConfig(data_dir=str(mnist)))
    assert (len(s.train), len(s.val), len(s.test)) == (50000, 10000, 10000)
    assert s.train.x.dtype == torch.uint8 and s.train.dim == 784 and s.train.image_shape == (28, 28)
    assert set(s.test.y.unique().tolist()) == set(range(10))
    # the validation split is fixed (independent of the run's seed) and disjoint from training
    again = load_splits(DataConfig(data_dir=str(mnist)))
    assert torch.equal(again.val.x, s.val.x)
    train_rows = {r.tobytes() for r in s.train.x[:5000].numpy()}
    assert sum(r.tobytes() in train_rows for r in s.val.x[:2000].numpy()) < 5  # MNIST has a few duplicates
    sub = load_splits(DataConfig(data_dir=str(mnist), train_subset=1000))
    assert len(sub.train) == 1000 and torch.equal(sub.train.x, s.train.x[:1000])


def test_user_arrays(tmp_path):
    x = np.random.default_rng(0).random((30, 4, 4)).astype(np.float32)
    y = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    np.save(tmp_path / "d.npy", (x * 255).astype(np.uint8))
    xs, ys = load_arrays(tmp_path / "d.npz")
    assert xs.shape == (30, 4, 4) and ys.tolist() == y.tolist()
    xn, yn = load_arrays(tmp_path / "d.npy")
    assert xn.dtype == np.uint8 and yn is None
    s = load_splits(DataConfig(dataset=str(tmp_path / "d.npz"), val_size=5))
    assert (len(s.train), len(s.val), len(s.test)) == (20, 5, 5) and s.train.dim == 16
    np.savez(tmp_path / "bad.npz", x=x * 3)
    with pytest.raises(DataError, match=r"float images must be finite and in \[0, 1\]"):
        load_arrays(tmp_path / "bad.npz")
    np.savez(tmp_path / "nokey.npz", foo=x)
    with pytest.raises(DataError, match="no images found"):
        load_arrays(tmp_path / "nokey.npz")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="cannot be read"):
        load_arrays(tmp_path / "junk.npy")
    with pytest.raises(DataError, match="leaves no training images"):
        load_splits(DataConfig(dataset=str(tmp_path / "d.npz"), val_size=15))


def test_loader_order_is_seeded_per_epoch_and_covers_the_data():
    from aaekit.data import ArrayDataset

    data = ArrayDataset(torch.arange(25, dtype=torch.uint8).reshape(25, 1), torch.arange(25), (1, 1))
    loader = BatchLoader(data, batch_size=10, seed=3)
    assert len(loader) == 3
    e0 = torch.cat([b.y for b in loader.epoch(0)])
    assert sorted(e0.tolist()) == list(range(25))
    assert torch.equal(e0, torch.cat([b.y for b in BatchLoader(data, 10, seed=3).epoch(0)]))
    assert not torch.equal(e0, torch.cat([b.y for b in loader.epoch(1)]))
    b = next(iter(loader.epoch(0)))
    assert b.x.dtype == torch.float32 and torch.allclose(b.x * 255, b.y.float().unsqueeze(1))


def test_download_from_a_mirror_is_checked(tmp_path, mnist, monkeypatch):
    """Download path against a local HTTP server standing in for the public mirrors."""
    import functools
    import http.server
    import threading

    import aaekit.data.mnist as m

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mnist))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(m, "MIRRORS", ("http://127.0.0.1:1/", f"http://127.0.0.1:{server.server_port}/"))
        check_files(tmp_path / "dl", download=True)  # first mirror refuses, second serves
        assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(FILES)
    finally:
        server.shutdown()
    monkeypatch.setattr(m, "MIRRORS", ("http://127.0.0.1:1/",))
    with pytest.raises(DataError, match="is missing and could not be downloaded") as e:
        check_files(tmp_path / "none", download=True)
    assert "\n" not in str(e.value) and not list((tmp_path / "none").glob("*.part"))

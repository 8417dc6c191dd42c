"""Bad input, one case each: the exit code, exactly one line on stderr and no traceback, and nothing
lost or left behind (every file of the workspace, a finished run's checkpoint and results included,
byte-identical afterwards, and no new file)."""

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from aaekit.cli import main
from aaekit.train.rundir import locked
from conftest import make_images, mnist_dir

TINY = """name: tiny
data: {{dataset: {data}, val_size: 50}}
model: {{kind: {kind}, encoder_hidden: [16], decoder_hidden: [16], discriminator_hidden: [16], init_std: 0.1}}
prior: {{kind: {prior}}}
train: {{epochs: 2, batch_size: 50, precision: fp32, progress: false, device: cpu}}
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A workspace with data files, configs and one finished 2-epoch run (``run/``)."""
    root = tmp_path_factory.mktemp("template")
    x, y = make_images(300)
    np.savez(root / "tiny.npz", x=x, y=y)
    np.save(root / "tiny.npy", x)
    (root / "tiny.yaml").write_text(TINY.format(data=root / "tiny.npz", kind="aae", prior="gaussian"))
    code = main(["train", str(root / "tiny.yaml"), "--out", str(root / "run")])
    assert code == 0
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def npz(ws: Path, name: str, **arrays) -> Path:
    np.savez(ws / name, **arrays)
    return ws / name


def cfg(ws: Path, name: str, data: Path, kind: str = "aae", prior: str = "gaussian") -> Path:
    return write(ws / name, TINY.format(data=data, kind=kind, prior=prior))


def images():
    return make_images(300)


class Evil:
    """A pickle that runs a shell command when loaded without ``weights_only``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def evil_checkpoint(path: Path) -> Path:
    torch.save({"format": "aaekit-checkpoint-1", "model": Evil(path.parent / "pwned")}, path)
    return path


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


# Each case: (its id, a function of the workspace that prepares files and returns the argv, the
# expected exit code, a piece of the one-line message).
CASES = [
    ("unknown-key", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.epoch=3", "--out", ws / "new"],
     2, "did you mean 'train.epochs'"),
    ("wrong-type", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.epochs=abc", "--out", ws / "new"],
     2, "'train.epochs': expected int"),
    ("zero-epochs", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.epochs=0", "--out", ws / "new"],
     2, "must be > 0"),
    ("bad-choice", lambda ws: ["train", ws / "tiny.yaml", "--set", "model.kind=gan", "--out", ws / "new"],
     2, "'gan' is not one of"),
    ("negative-threads", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.threads=-2", "--out", ws / "new"],
     2, "'train.threads': must be > 0"),
    ("bad-train-device", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.device=foo", "--out", ws / "new"],
     2, "'foo' is not auto, cpu or cuda"),
    ("prior-dim-ignored", lambda ws: ["train", ws / "tiny.yaml", "--set", "prior.kind=mog", "--set", "prior.dim=3",
                                      "--out", ws / "new"], 2, "has a fixed dimension and ignores it"),
    ("prior-dim-mismatch", lambda ws: ["train", ws / "tiny.yaml", "--set", "prior.dim=5", "--out", ws / "new"],
     2, "'prior.dim': 5, but model.code_dim is 2"),
    ("negative-lr", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.optim.generator.lr=-1",
                                "--out", ws / "new"], 2, "'train.optim.generator.lr': must be > 0"),
    ("negative-shift", lambda ws: ["train", ws / "tiny.yaml", "--set", "model.kind=semisupervised_aae",
                                   "--set", "model.labelled_shift=-1", "--out", ws / "new"], 2, "must be >= 0"),
    ("shift-over-image", lambda ws: ["train", ws / "tiny.yaml", "--set", "model.kind=semisupervised_aae",
                                     "--set", "model.labelled_shift=8", "--out", ws / "new"], 2,
     "leaves nothing of a 8 x 8 image"),
    ("nan-lr", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.optim.generator.lr=nan", "--out", ws / "new"],
     2, "expected a finite number"),
    ("unknown-phase", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.optim.critic.lr=0.1",
                                  "--out", ws / "new"], 2, "names phase 'critic'"),
    ("batch-over-data", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.batch_size=5000", "--out", ws / "new"],
     2, "5000 exceeds the 200 training images"),
    ("set-without-value", lambda ws: ["train", ws / "tiny.yaml", "--set", "train.epochs", "--out", ws / "new"],
     2, "--set expects key=value"),
    ("resume-and-overwrite", lambda ws: ["train", ws / "tiny.yaml", "--out", ws / "run", "--resume", "--overwrite"],
     2, "exclude each other"),
    ("binary-config", lambda ws: ["train", write(ws / "bin.yaml", bytes(range(256)) * 4), "--out", ws / "new"],
     2, "is not a text (UTF-8 YAML) file"),
    ("missing-config", lambda ws: ["train", ws / "nope.yaml", "--out", ws / "new"], 2, "does not exist"),
    ("folder-as-config", lambda ws: ["train", ws / "run", "--out", ws / "new"], 2, "is a folder"),
    ("invalid-yaml", lambda ws: ["train", write(ws / "bad.yaml", "a: [1, 2\nb: 3\n"), "--out", ws / "new"],
     2, "is not valid YAML"),
    ("list-config", lambda ws: ["train", write(ws / "list.yaml", "- 1\n- 2\n"), "--out", ws / "new"],
     2, "must hold a mapping"),
    ("out-is-a-file", lambda ws: ["train", ws / "tiny.yaml", "--out", ws / "tiny.npy"],
     2, "is a file; give --out a folder"),
    ("out-unwritable-new", lambda ws: ["train", ws / "tiny.yaml", "--out", "/sys/aaekit-run"],
     2, "cannot create the run folder /sys/aaekit-run"),
    ("out-unwritable-existing", lambda ws: ["train", ws / "tiny.yaml", "--out", "/sys/kernel"],
     2, "cannot write to the run folder /sys/kernel"),
    ("missing-array-file", lambda ws: ["train", ws / "tiny.yaml", "--set", f"data.dataset={ws / 'no.npz'}",
                                       "--out", ws / "new"], 2, "does not exist"),
    ("npz-without-images", lambda ws: ["train", cfg(ws, "c.yaml", npz(ws, "a.npz", w=np.zeros(3))),
                                       "--out", ws / "new"], 2, "no images found"),
    ("nan-images", lambda ws: ["train", cfg(ws, "c.yaml", npz(ws, "a.npz", x=np.full((300, 4, 4), np.nan))),
                               "--out", ws / "new"], 2, "must be finite and in [0, 1]"),
    ("images-over-one", lambda ws: ["train", cfg(ws, "c.yaml", npz(ws, "a.npz", x=np.full((300, 4, 4), 2.0))),
                                    "--out", ws / "new"], 2, "must be finite and in [0, 1]"),
    ("labels-wrong-shape", lambda ws: ["train", cfg(ws, "c.yaml", npz(ws, "a.npz", x=images()[0],
                                                                      y=np.zeros(7, int))),
                                       "--out", ws / "new"], 2, "labels must be integers of shape (300,)"),
    ("negative-labels", lambda ws: ["train", cfg(ws, "c.yaml", npz(ws, "a.npz", x=images()[0],
                                                                   y=-np.ones(300, int))),
                                    "--out", ws / "new"], 2, "labels must be >= 0"),
    ("conv-on-flat-data", lambda ws: ["train", cfg(ws, "c.yaml", npz(ws, "a.npz", x=np.zeros((300, 10), np.float32))),
                                      "--set", "model.nets=conv", "--out", ws / "new"], 2,
     "conv nets need (height, width) images, and these data are flat, 10 values each"),
    ("switch-without-conv", lambda ws: ["train", ws / "tiny.yaml", "--set", "model.no_fc=true", "--out", ws / "new"],
     2, "a switch of model.nets: conv"),
    ("colour-images", lambda ws: ["train", cfg(ws, "c.yaml", npz(ws, "a.npz", x=np.zeros((300, 8, 8, 3), np.uint8))),
                                  "--out", ws / "new"], 2, "have several channels"),
    ("csv-data", lambda ws: ["train", cfg(ws, "c.yaml", write(ws / "a.csv", "1,2\n")), "--out", ws / "new"],
     2, "unsupported file type '.csv'"),
    ("truncated-npy", lambda ws: ["train", cfg(ws, "c.yaml", write(ws / "a.npy", (ws / "tiny.npy").read_bytes()[:500])),
                                  "--out", ws / "new"], 2, "cannot be read as a numpy file"),
    ("supervised-labels-out-of-range", lambda ws: ["train", cfg(ws, "c.yaml", ws / "tiny.npz", "supervised_aae"),
                                                   "--set", "model.n_classes=3", "--out", ws / "new"],
     2, "the supervised_aae model needs labels in 0..2"),
    ("supervised-no-labels", lambda ws: ["train", cfg(ws, "c.yaml", ws / "tiny.npy", "supervised_aae"),
                                         "--out", ws / "new"], 2, "needs labels and data.dataset="),
    ("label-aae-labels-out-of-range", lambda ws: ["train", cfg(ws, "c.yaml", ws / "tiny.npz", "label_aae", "mog"),
                                                  "--set", "prior.n_components=3", "--out", ws / "new"],
     2, "the label_aae model needs labels in 0..2"),
    ("label-aae-no-labels", lambda ws: ["train", cfg(ws, "c.yaml", ws / "tiny.npy", "label_aae", "mog"),
                                        "--out", ws / "new"], 2, "the label_aae model needs labels"),
    ("mnist-missing", lambda ws: ["train", "--data-dir", ws / "nowhere", "--set", "data.download=false",
                                  "--out", ws / "new"], 2, "train-images-idx3-ubyte.gz is missing"),
    ("fresh-run-over-a-run", lambda ws: ["train", ws / "tiny.yaml", "--out", ws / "run"],
     2, "holds a run (checkpoint.pt); pass --resume"),
    ("resume-other-model", lambda ws: ["train", ws / "tiny.yaml", "--out", ws / "run", "--resume",
                                       "--set", "model.code_dim=3"], 2, "was made with model.code_dim=2"),
    ("resume-other-data", lambda ws: ["train", cfg(ws, "c.yaml", npz(ws, "b.npz", x=images()[0][::-1].copy())),
                                      "--out", ws / "run", "--resume"], 2, "was trained on other data"),
    ("resume-fewer-epochs", lambda ws: ["train", ws / "tiny.yaml", "--out", ws / "run", "--resume",
                                        "--set", "train.epochs=1"], 2, "has 2 epochs done, more than train.epochs=1"),
    ("resume-other-optimizer", lambda ws: ["train", ws / "tiny.yaml", "--out", ws / "run", "--resume",
                                           "--set", "train.epochs=3", "--set", "train.optim.generator.name=adam"],
     2, "trained the generator phase with sgd, the config asks for adam"),
    ("sample-zero", lambda ws: ["sample", ws / "run", "-n", "0", "--out", ws / "s.png"], 2, "-n must be at least 1"),
    ("sample-negative", lambda ws: ["sample", ws / "run", "-n", "-5", "--out", ws / "s.png"],
     2, "-n must be at least 1"),
    ("sample-bad-extension", lambda ws: ["sample", ws / "run", "--out", ws / "s.xyz"],
     2, "cannot write samples as .xyz"),
    ("sample-no-extension", lambda ws: ["sample", ws / "run", "--out", ws / "samples"],
     2, "a file without extension"),
    ("sample-bad-device", lambda ws: ["sample", ws / "run", "--device", "foo", "--out", ws / "s.png"],
     2, "device 'foo' is not auto, cpu or cuda"),
    ("sample-cuda-absent", lambda ws: ["sample", ws / "run", "--device", "cuda:7", "--out", ws / "s.png"],
     2, "device cuda:7"),
    ("sample-garbage-checkpoint", lambda ws: ["sample", write(ws / "x.pt", os.urandom(2000)), "--out", ws / "s.png"],
     2, "cannot be read as an aaekit checkpoint"),
    ("sample-foreign-checkpoint", lambda ws: ["sample", ws / "foreign.pt", "--out", ws / "s.png"],
     2, "is not an aaekit checkpoint"),
    ("sample-malicious-checkpoint", lambda ws: ["sample", evil_checkpoint(ws / "evil.pt"), "--out", ws / "s.png"],
     2, "cannot be read as an aaekit checkpoint (Weights only load failed"),
    ("resume-malicious-checkpoint", lambda ws: ["train", ws / "tiny.yaml", "--resume", "--set", "train.epochs=3",
                                                "--out", evil_checkpoint(ws / "run" / "checkpoint.pt").parent],
     2, "cannot be read as an aaekit checkpoint"),
    ("resume-truncated-checkpoint", lambda ws: ["train", ws / "tiny.yaml", "--resume", "--set", "train.epochs=3",
                                                "--out", truncate(ws / "run" / "checkpoint.pt").parent],
     2, "cannot be read as an aaekit checkpoint"),
    ("eval-bad-device", lambda ws: ["eval", ws / "run", "--device", "foo"], 2, "device 'foo' is not auto"),
    ("eval-bad-split", lambda ws: ["eval", ws / "run", "--split", "nope"], 2, "invalid choice: 'nope'"),
    ("eval-no-run", lambda ws: ["eval", ws / "nowhere"], 2, "no checkpoint at"),
    ("parzen-one-sample", lambda ws: ["eval", ws / "run", "--parzen", "--n-samples", "1"],
     2, "--n-samples must be at least 2"),
    ("parzen-negative-sigma", lambda ws: ["eval", ws / "run", "--parzen", "--sigmas", "0.1,-1"],
     2, "--sigmas must be positive"),
    ("report-no-folder", lambda ws: ["report", "--results", "/nonexistent"],
     2, "--results /nonexistent is not a folder"),
    ("compare-no-codes", lambda ws: ["compare", ws, "--out", ws / "c.png"], 2, "has no codes.npz/metrics.json"),
    ("compare-bad-extension", lambda ws: ["compare", ws / "run", "--out", ws / "c.xyz"],
     2, "cannot write a figure as .xyz"),
    ("unknown-command", lambda ws: ["fit", ws / "tiny.yaml"], 2, "invalid choice: 'fit'"),
]


def run_cli(capsys, argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("make_argv,code,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_loses_nothing(capsys, template, tmp_path, make_argv, code, message):
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    torch.save({"weights": torch.zeros(2)}, ws / "foreign.pt")
    argv = make_argv(ws)
    before = snapshot(ws)
    got, _, err = run_cli(capsys, argv)
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and lines[0].startswith("aaekit") and ": error: " in lines[0], err
    assert message in lines[0]
    assert "Traceback" not in err
    assert snapshot(ws) == before  # nothing changed, nothing lost, nothing left behind


def test_at_least_forty_cases():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


def test_altered_mnist_file(capsys, tmp_path):
    src = mnist_dir()
    if src is None:
        pytest.skip("MNIST files not found")
    data = tmp_path / "mnist"
    data.mkdir()
    for f in src.glob("*.gz"):
        (data / f.name).symlink_to(f)
    (data / "t10k-labels-idx1-ubyte.gz").unlink()
    write(data / "t10k-labels-idx1-ubyte.gz", (src / "t10k-labels-idx1-ubyte.gz").read_bytes()[:-10])
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, ["train", "--data-dir", data, "--set", "data.download=false",
                                    "--out", tmp_path / "new"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "truncated or altered" in err
    assert snapshot(tmp_path) == before


def test_disk_full_during_checkpoint_write(capsys, template, tmp_path, monkeypatch):
    """The write fails half-way with ENOSPC: one line saying so, the temp file removed, the previous
    checkpoint and log untouched."""
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    real_save = torch.save

    def full(obj, f, *a, **k):
        Path(f).write_bytes(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("aaekit.train.checkpoint.torch.save", full)
    before = snapshot(ws)
    code, _, err = run_cli(capsys, ["train", ws / "tiny.yaml", "--out", ws / "run", "--resume",
                                    "--set", "train.epochs=3"])
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "Traceback" not in err
    assert "disk full while writing" in lines[0] and "the last good checkpoint (epoch 2) is kept" in lines[0]
    assert snapshot(ws) == before
    monkeypatch.setattr("aaekit.train.checkpoint.torch.save", real_save)


def test_divergence_keeps_the_last_good_checkpoint(capsys, template, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    before = snapshot(ws)
    code, _, err = run_cli(capsys, ["train", ws / "tiny.yaml", "--out", ws / "run", "--resume", "--set",
                                    "train.epochs=3", "--set", "train.optim.reconstruction.lr=1e12"])
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "training diverged in epoch 3" in lines[0]
    assert "the last good checkpoint (epoch 2) is kept" in lines[0]
    assert snapshot(ws) == before


def test_a_second_run_into_a_held_folder(capsys, template, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    with locked(ws / "run"):  # another run holds the folder (flock: per open file, so this process counts)
        before = snapshot(ws)
        code, _, err = run_cli(capsys, ["train", ws / "tiny.yaml", "--out", ws / "run", "--resume",
                                        "--set", "train.epochs=3"])
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert f"the run folder {ws / 'run'} is in use by another aaekit run (PID {os.getpid()})" in err
        assert snapshot(ws) == before
    assert not (ws / "run" / ".aaekit.lock").exists()  # released


def test_disk_full_on_a_real_full_file_system(capsys, tmp_path):
    """The same on a real file system that fills up (a 4 MiB tmpfs: one 3 MiB checkpoint fits, the
    next one's temp file beside it does not). Needs the right to mount; skipped where there is none."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        x, y = make_images(400)
        np.savez(tmp_path / "d.npz", x=x, y=y)
        config = write(tmp_path / "c.yaml", f"data: {{dataset: {tmp_path / 'd.npz'}, val_size: 50}}\n"
                       "model: {encoder_hidden: [300, 300], decoder_hidden: [300, 300], "
                       "discriminator_hidden: [300, 300]}\n"
                       "train: {epochs: 1, batch_size: 50, precision: fp32, progress: false, device: cpu}\n")
        assert main(["train", str(config), "--out", str(mnt / "run")]) == 0
        capsys.readouterr()
        before = snapshot(mnt)
        code, _, err = run_cli(capsys, ["train", config, "--out", mnt / "run", "--resume", "--set", "train.epochs=2"])
        assert code == 1 and err.strip() == (f"aaekit: error: epoch 2 could not be saved: disk full while writing "
                                             f"{mnt / 'run' / 'checkpoint.pt'}; the last good checkpoint (epoch 1) "
                                             "is kept")
        assert snapshot(mnt) == before
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)

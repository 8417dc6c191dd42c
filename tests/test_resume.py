"""Resume that records what ran, the run folder held by one run, data known by content, and runs
killed (SIGKILL) at several points, the checkpoint write included, resuming bit for bit."""

import csv
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from aaekit.cli import main
from aaekit.config import OptimConfig, load_config, optim_config
from aaekit.train.checkpoint import load_checkpoint
from aaekit.train.rundir import LOCK

SRC = Path(__file__).resolve().parents[1] / "src"
CONFIG = """name: tiny
data: {{dataset: {data}, val_size: 50}}
model: {{encoder_hidden: [16], decoder_hidden: [16], discriminator_hidden: [16], init_std: 0.1}}
train: {{epochs: {epochs}, batch_size: 50, precision: fp32, progress: false, device: cpu, threads: 1}}
"""


@pytest.fixture
def config(tiny_npz, tmp_path):
    def make(epochs=2, name="tiny.yaml", data=tiny_npz, extra=""):
        path = tmp_path / name
        path.write_text(CONFIG.format(data=data, epochs=epochs) + extra)
        return path
    return make


def cli(*argv):
    return main([str(a) for a in argv])


def lrs(run: Path, phase: str) -> list[float]:
    with open(run / "log.csv") as f:
        return [float(r[f"lr_{phase}"]) for r in csv.DictReader(f)]


def model_of(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoint.pt")["model"]


def test_scientific_notation_in_yaml_and_set(tmp_path):
    """PyYAML reads YAML 1.1, where 1e-4 (no dot) is a string: every spelling float() takes is a number."""
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  init_std: 1e-1\ntrain:\n  grad_clip: 5E+0\n  optim:\n"
                    "    generator: {lr: 1e-4}\n    discriminator:\n      lr: 5E-3\n")
    cfg = load_config(path, ["train.optim.reconstruction.lr=3e-2", "prior.std=2e0", "train.optim.generator.gamma=.5"])
    assert cfg.model.init_std == 0.1 and cfg.prior.std == 2.0 and cfg.train.grad_clip == 5.0
    opt = {k: optim_config(v, OptimConfig(), k) for k, v in cfg.train.optim.items()}
    assert (opt["generator"].lr, opt["discriminator"].lr, opt["reconstruction"].lr) == (1e-4, 5e-3, 3e-2)
    assert opt["generator"].gamma == 0.5


def test_resume_applies_new_optimizer_settings_and_records_them(config, tmp_path, caplog):
    """A run resumed with a new lr equals one whose schedule made that lr from the same epoch on; the
    log, config.yaml and metrics.json say what ran."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert cli("train", config(4), "--out", straight, "--set", "train.optim.generator.milestones=[2]",
               "--set", "train.optim.generator.gamma=0.5") == 0
    assert cli("train", config(2), "--out", resumed) == 0
    with caplog.at_level(logging.INFO):
        assert cli("train", config(4), "--out", resumed, "--resume", "--set", "train.optim.generator.lr=0.05",
                   "--set", "train.optim.reconstruction.milestones=[3]") == 0
    assert "generator: lr 0.1 -> 0.05 (lr 0.05 from epoch 3)" in caplog.text
    assert lrs(resumed, "generator") == [0.1, 0.1, 0.05, 0.05] == lrs(straight, "generator")
    assert lrs(resumed, "reconstruction") == [0.01, 0.01, 0.01, 0.001]
    # the generator's lr is the only difference from the straight run until epoch 4's reconstruction drop
    a, b = model_of(straight), model_of(resumed)
    assert not all(torch.equal(a[k], b[k]) for k in a)  # epoch 4's reconstruction lr differs
    doc = json.loads((resumed / "metrics.json").read_text())
    optim = doc["config"]["train"]["optim"]
    assert optim["generator"]["lr"] == 0.05 and optim["reconstruction"]["milestones"] == [3]
    assert optim["discriminator"] == {"name": "sgd", "lr": 0.1, "momentum": 0.1, "betas": [0.9, 0.999],
                                      "weight_decay": 0.0, "grad_clip": None, "milestones": [50, 1000],
                                      "gamma": 0.1}  # the model's defaults, in full
    (change,) = doc["provenance"]["resumes"]
    assert change["epoch"] == 2 and any("generator: lr 0.1 -> 0.05" in c for c in change["optim_changes"])
    assert "lr: 0.05" in (resumed / "config.yaml").read_text()


def test_resume_with_a_new_lr_equals_a_schedule_that_makes_it(config, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    cli("train", config(4), "--out", straight, "--set", "train.optim.generator.milestones=[2]",
        "--set", "train.optim.generator.gamma=0.5")
    cli("train", config(2), "--out", resumed)
    cli("train", config(4), "--out", resumed, "--resume", "--set", "train.optim.generator.lr=0.05",
        "--set", "train.optim.generator.gamma=0.5")
    a, b = model_of(straight), model_of(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_adding_a_drop_at_the_resume_epoch_equals_the_schedule_run_straight(config, tmp_path):
    """How parzen_aae_gaussian_120 was made: Adam runs trained without drops, resumed with every phase's
    milestone at the epoch they stopped, equal the registry's config trained in one go."""
    phases = ("reconstruction", "discriminator", "generator")
    adam = [f"--set=train.optim.{p}.{k}" for p in phases for k in ("name=adam", "lr=0.002")]
    drops = [f"--set=train.optim.{p}.milestones=[2]" for p in phases]
    no_drops = [f"--set=train.optim.{p}.milestones=[]" for p in phases]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert cli("train", config(4), "--out", straight, *adam, *drops) == 0
    assert cli("train", config(2), "--out", resumed, *adam, *no_drops) == 0
    assert cli("train", config(4), "--out", resumed, "--resume", *adam, *drops) == 0
    assert lrs(resumed, "generator") == [0.002, 0.002, 0.0002, 0.0002] == lrs(straight, "generator")
    a, b = model_of(straight), model_of(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_rng_state_stays_on_cpu_whatever_the_map_location(config, tmp_path):
    assert cli("train", config(1), "--out", tmp_path / "r") == 0
    saved = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt", "meta")  # moves every other tensor
    assert all(t.device.type == "meta" for t in state["model"].values())
    rng = state["rng"]["torch"]
    assert rng.device.type == "cpu" and rng.dtype == torch.uint8 and torch.equal(rng, saved["rng"]["torch"])
    torch.set_rng_state(rng)  # what a CUDA resume failed on


def test_resume_knows_the_data_by_content_not_by_path(config, tiny_npz, tmp_path):
    moved = tmp_path / "elsewhere" / "same.npz"
    moved.parent.mkdir()
    shutil.copy(tiny_npz, moved)
    run = tmp_path / "r"
    assert cli("train", config(1), "--out", run) == 0
    assert cli("train", config(2, "moved.yaml", data=moved), "--out", run, "--resume") == 0
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 2


def test_overwrite_removes_the_old_run_before_writing(config, tmp_path, capsys):
    run = tmp_path / "r"
    assert cli("train", config(2), "--out", run) == 0
    (run / "notes.txt").write_text("mine")
    capsys.readouterr()
    code = cli("train", config(2), "--out", run, "--overwrite", "--set", "train.optim.reconstruction.lr=1e12")
    err = capsys.readouterr().err
    assert code == 1 and "diverged in epoch 1" in err and "no checkpoint was written" in err
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]  # nothing of the old run, the user's file kept


def test_a_lock_left_by_a_dead_process_is_taken_over(config, tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "r"
    run.mkdir()
    (run / LOCK).write_text(f"{dead.pid} {os.uname().nodename}\n")
    with caplog.at_level(logging.WARNING):
        assert cli("train", config(1), "--out", run) == 0
    assert f"took over the lock of {run} left by PID {dead.pid}" in caplog.text
    assert not (run / LOCK).exists()


def _interruptible():
    """In the child: Ctrl-C back to its default. A shell starts background jobs with SIGINT ignored,
    a child inherits that, and Python then installs no KeyboardInterrupt handler: a suite run in the
    background (`make test &`) would otherwise never see the child stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _aaekit(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "aaekit", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible,
                            env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})})


def test_two_processes_into_one_folder(config, tmp_path):
    run = tmp_path / "r"
    first = _aaekit("train", config(10_000), "--out", run)
    try:
        deadline = time.time() + 60
        while not (run / LOCK).exists() or not (run / LOCK).read_text().strip():
            assert time.time() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.1)
        second = _aaekit("train", config(10_000), "--out", run, "--resume")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert err.strip().splitlines()[-1] == (f"aaekit: error: the run folder {run} is in use by another aaekit "
                                                f"run (PID {first.pid}); wait for it to end or use another --out")
    finally:
        first.kill()
        first.wait()


def test_ctrl_c_stops_with_one_line_and_keeps_the_checkpoint(config, tmp_path):
    run = tmp_path / "r"
    proc = _aaekit("train", config(10_000), "--out", run)
    deadline = time.time() + 60
    while not (run / "log.csv").is_file():
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "aaekit: interrupted; the last completed epoch's checkpoint is kept"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "log.csv"]  # no temp file, no lock
    done = load_checkpoint(run / "checkpoint.pt")["epoch"]
    assert done >= 1 and cli("train", config(done + 1), "--out", run, "--resume") == 0


# A run killed by SIGKILL at a chosen point: a wrapper around the CLI that kills its own process there.
KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch
    from aaekit.cli import main
    from aaekit.train import trainer as tr
    from aaekit.train import checkpoint as ck
    point, epoch = sys.argv[1], int(sys.argv[2])
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    if point == "mid-epoch":  # in the middle of epoch `epoch`'s batches
        inner = tr.BatchLoader.epoch
        def epoch_(self, e, first_step=0):
            for i, b in enumerate(inner(self, e, first_step)):
                if e + 1 == epoch and i == 2:
                    die()
                yield b
        tr.BatchLoader.epoch = epoch_
    elif point == "checkpoint-write":  # half of epoch `epoch`'s checkpoint on disk
        save = torch.save
        def save_(obj, f, *a, **k):
            if obj["epoch"] == epoch:
                save(obj, f, *a, **k)
                with open(f, "r+b") as h:
                    h.truncate(os.path.getsize(f) // 2)
                die()
            return save(obj, f, *a, **k)
        ck.torch.save = save_
    elif point == "after-checkpoint":  # checkpoint written, its log row not yet
        log_row = tr.Trainer._log_row
        def log_row_(self, row):
            if self.epoch == epoch:
                die()
            return log_row(self, row)
        tr.Trainer._log_row = log_row_
    elif point == "evaluation":  # training done, metrics.json not yet written
        import aaekit.run as run
        run.evaluate = lambda *a, **k: die()
    sys.exit(main(sys.argv[3:]))
""")


@pytest.mark.parametrize("point,epoch", [("mid-epoch", 1), ("mid-epoch", 3), ("checkpoint-write", 1),
                                         ("checkpoint-write", 2), ("after-checkpoint", 2), ("evaluation", 3)])
def test_killed_run_resumes_bit_for_bit(config, tmp_path, point, epoch):
    cfg = config(3)
    straight = tmp_path / "straight"
    assert cli("train", cfg, "--out", straight) == 0
    run = tmp_path / "killed"
    killed = subprocess.run([sys.executable, "-c", KILLER, point, str(epoch), "train", cfg, "--out", run],
                            env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (run / "metrics.json").exists() and not (run / "checkpoint.pt.tmp").exists() or \
        point == "checkpoint-write"
    resumed = _aaekit("train", cfg, "--out", run, "--resume")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "took over the lock" in err  # the dead run's lock file
    a, b = load_checkpoint(straight / "checkpoint.pt"), load_checkpoint(run / "checkpoint.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["optimizers"]["reconstruction"]["state"][0]["momentum_buffer"].equal(
        b["optimizers"]["reconstruction"]["state"][0]["momentum_buffer"])
    drop = ("epoch_time_s",)
    rows = [[{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(open(d / "log.csv"))]
            for d in (straight, run)]
    assert rows[0] == rows[1]
    m = [json.loads((d / "metrics.json").read_text())["metrics"] for d in (straight, run)]
    assert m[0]["recon_sse"] == m[1]["recon_sse"]
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in straight.iterdir())

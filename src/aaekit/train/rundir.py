"""The run folder: one run at a time (a lock file holding the owner's PID), and what a run writes there.

The lock is ``.aaekit.lock`` in the run folder, held with ``flock`` for as long as the run lives: the
kernel drops it when the process dies, however it dies, so a lock file left by a killed run is
simply taken over (with a logged line naming the dead PID). A second run into a held folder stops
with one line naming the folder and the PID that holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from aaekit.config import ConfigError

log = logging.getLogger(__name__)
LOCK = ".aaekit.lock"
# What a training run writes into its folder (evaluations add eval_*.json, parzen.json, nearest.png).
RUN_FILES = ("checkpoint.pt", "checkpoint.pt.tmp", "log.csv", "config.yaml", "metrics.json", "parzen.json",
             "codes.npz", "test_predictions.npy", "val_predictions.npy", "labelled_indices.npy")
RUN_PATTERNS = ("eval_*.json", "*.png")
RUN_FOLDERS = ("tensorboard",)


class RunFolderBusy(ConfigError):
    """Another process holds the run folder's lock."""


def _holder(text: str) -> tuple[int | None, str]:
    parts = text.split()
    pid = int(parts[0]) if parts and parts[0].isdigit() else None
    return pid, parts[1] if len(parts) > 1 else "?"


def _acquire(run_dir: Path) -> int:
    path = run_dir / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(f"cannot write to the run folder {run_dir} ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, host = _holder(os.pread(fd, 200, 0).decode(errors="replace"))
            os.close(fd)
            who = f"PID {pid}" + (f" on {host}" if host != socket.gethostname() else "")
            raise RunFolderBusy(f"the run folder {run_dir} is in use by another aaekit run ({who}); "
                                "wait for it to end or use another --out") from None
        # the file may have been removed (by its last owner, releasing) between open and flock
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        old = os.pread(fd, 200, 0).decode(errors="replace")
        if old.strip():
            pid, host = _holder(old)
            log.warning("took over the lock of %s left by PID %s on %s, which no longer runs", run_dir, pid, host)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        return fd


@contextlib.contextmanager
def locked(run_dir: str | Path, enabled: bool = True) -> Iterator[Path]:
    """Hold ``run_dir`` (created if missing) for one run. Folders this call created are removed again
    if the run leaves them empty (a run stopped by bad input leaves nothing behind)."""
    run_dir = Path(run_dir)
    if not enabled:
        yield run_dir
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"the run folder {run_dir} is a file; give --out a folder")
    made, p = [], run_dir
    while not p.exists():
        made.append(p)
        p = p.parent
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the run folder {run_dir} ({e.strerror})") from None
    fd = None
    try:
        fd = _acquire(run_dir)
        yield run_dir
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(run_dir / LOCK)
            os.close(fd)
        for folder in made:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


def run_outputs(run_dir: Path) -> list[Path]:
    """The files and folders in ``run_dir`` that a run or its evaluations wrote."""
    if not run_dir.is_dir():
        return []
    found = {run_dir / n for n in (*RUN_FILES, *RUN_FOLDERS) if (run_dir / n).exists()}
    for pattern in RUN_PATTERNS:
        found.update(run_dir.glob(pattern))
    return sorted(found)


def clear_outputs(run_dir: Path) -> list[Path]:
    """Remove a previous run's outputs from ``run_dir`` (``--overwrite``), leaving other files alone."""
    gone = run_outputs(run_dir)
    for path in gone:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return gone

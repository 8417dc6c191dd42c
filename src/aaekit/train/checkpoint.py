"""Checkpoints: written atomically (temp file + rename), read with ``weights_only=True``."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Any

import torch

FORMAT = "aaekit-checkpoint-1"
# Config sections that define the model and its data: a checkpoint only resumes under a config
# that agrees on all of them (train.* may change, e.g. more epochs).
IDENTITY_KEYS = ("name", "seed", "data", "model", "prior")
# ... except where the data are read from: the data are identified by their content (the
# checkpoint's data_id: the files' checksums), not by the spelling of a path.
WHERE_KEYS = ("data.data_dir", "data.download")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or of another model; the message is one line."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, folder gone); the previous one is left intact."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` so that a crash mid-write never leaves a broken checkpoint: a temp
    file, renamed over the old one once complete. A failed write removes the temp file and raises
    ``CheckpointWriteError``; the old checkpoint stays."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": FORMAT, **state}, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch reports a failed write as RuntimeError, without errno
        full = (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left" in str(e)
        with contextlib.suppress(OSError):
            full = full or shutil.disk_usage(path.parent).free < 2**20  # measured with the temp file there
        tmp.unlink(missing_ok=True)
        text = str(e)
        if full:
            raise CheckpointWriteError(f"disk full while writing {path}") from None
        why = e.strerror if isinstance(e, OSError) and e.strerror else (text.strip().splitlines() or [""])[0][:200]
        raise CheckpointWriteError(f"cannot write {path} ({why})") from None
    except BaseException:  # interrupted (Ctrl-C) mid-write: no half-written temp file stays
        tmp.unlink(missing_ok=True)
        raise


def _to(tree: Any, device: str | torch.device) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.to(device)
    if isinstance(tree, dict):
        return {k: _to(v, device) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(_to(v, device) for v in tree)
    return tree


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint's state, its tensors on ``map_location`` except the RNG states, which are CPU
    byte tensors whatever the device (``torch.set_rng_state`` takes no other)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a foreign or damaged file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} cannot be read as an aaekit checkpoint ({first[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an aaekit checkpoint")
    rng = state.pop("rng", None)
    if torch.device(map_location).type != "cpu":
        state = _to(state, map_location)
    if rng is not None:
        state["rng"] = {k: v.to("cpu", torch.uint8) for k, v in rng.items()}
    return state


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def check_compatible(state: dict[str, Any], config: dict[str, Any], path: str | Path,
                     data_id: str | None = None) -> None:
    """Raise one line naming the first config value where ``config`` differs from the checkpoint's.
    ``data_id`` (the data's checksum, ``Splits.data_id``) is compared with the checkpoint's where it
    has one; then the data set's path may be spelled differently."""
    saved = state["config"]
    skip = set(WHERE_KEYS)
    if data_id is not None and state.get("data_id") is not None:
        if state["data_id"] != data_id:
            raise CheckpointError(
                f"{path} was trained on other data (checksum {state['data_id'][:16]}), data.dataset="
                f"{config['data']['dataset']!r} has {data_id[:16]}; use another out_dir or the same data"
            )
        skip.add("data.dataset")
    if saved["model"]["kind"] != config["model"]["kind"]:
        raise CheckpointError(
            f"{path} holds a '{saved['model']['kind']}' model, the config asks for "
            f"'{config['model']['kind']}'; use another out_dir or the matching config"
        )
    a = _flat({k: saved.get(k) for k in IDENTITY_KEYS})
    b = _flat({k: config.get(k) for k in IDENTITY_KEYS})
    for key in sorted(set(a) | set(b)):
        if key not in skip and a.get(key) != b.get(key):
            raise CheckpointError(
                f"{path} was made with {key}={a.get(key)!r}, the config has {b.get(key)!r}; "
                "use another out_dir or the matching config"
            )

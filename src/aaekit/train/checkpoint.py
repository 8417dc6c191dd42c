"""Checkpoints: written atomically (temp file + rename), read with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

FORMAT = "aaekit-checkpoint-1"
# Config sections that define the model and its data: a checkpoint only resumes under a config
# that agrees on all of them (train.* may change, e.g. more epochs).
IDENTITY_KEYS = ("name", "seed", "data", "model", "prior")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or of another model; the message is one line."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` so that a crash mid-write never leaves a broken checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for a foreign or damaged file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} cannot be read as an aaekit checkpoint ({first[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an aaekit checkpoint")
    return state


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def check_compatible(state: dict[str, Any], config: dict[str, Any], path: str | Path) -> None:
    """Raise one line naming the first config value where ``config`` differs from the checkpoint's."""
    saved = state["config"]
    if saved["model"]["kind"] != config["model"]["kind"]:
        raise CheckpointError(
            f"{path} holds a '{saved['model']['kind']}' model, the config asks for "
            f"'{config['model']['kind']}'; use another out_dir or the matching config"
        )
    a = _flat({k: saved.get(k) for k in IDENTITY_KEYS})
    b = _flat({k: config.get(k) for k in IDENTITY_KEYS})
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            raise CheckpointError(
                f"{path} was made with {key}={a.get(key)!r}, the config has {b.get(key)!r}; "
                "use another out_dir or the matching config"
            )

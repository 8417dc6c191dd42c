"""An experiment from end to end: data -> model -> trainer -> test metrics, figures, metrics.json."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aaekit.config import Config, ConfigError, DataConfig, from_dict, save_config
from aaekit.data import ArrayDataset, DataError, Splits, load_splits
from aaekit.metrics.parzen import DEFAULT_SIGMAS
from aaekit.models import Model, build_model
from aaekit.report import figures
from aaekit.train import CheckpointError, Trainer, distributed, load_checkpoint
from aaekit.train.rundir import locked
from aaekit.train.trainer import CHECKPOINT, describe_device, peak_memory_mb, resolve_bf16, resolve_device

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version() -> dict[str, Any]:
    """The git commit of the code and whether tracked files other than results/ (the outputs of
    runs and benchmarks) differ from it, read at a run's start.

    ``$AAEKIT_CODE_COMMIT``, where set, names the commit instead, for a copy of the code whose
    ``.git`` is missing or of another commit (a tree copied to a GPU machine): the record then says
    the commit was given (``git_commit_source``), keeps what git saw (``git_seen_there``), and
    leaves ``git_dirty`` unknown (None)."""
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    seen = {"git_commit": _git("rev-parse", "HEAD") or "unknown",
            "git_dirty": bool(dirty) if dirty is not None else None}
    given = os.environ.get("AAEKIT_CODE_COMMIT", "").strip()
    if not given:
        return seen
    return {"git_commit": given, "git_dirty": None, "git_commit_source": "given by $AAEKIT_CODE_COMMIT",
            "git_seen_there": seen}


def provenance(cfg: Config, device: str, wall_time_s: float, epochs: int,
               command: str | None = None, version: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        **(version or code_version()),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "device": device,
        "wall_time_s": round(wall_time_s, 2),
        "epochs": epochs,
        "seed": cfg.seed,
        "command": command or " ".join(["aaekit", *sys.argv[1:]]),
    }


def write_metrics(run_dir: Path, cfg: Config, metrics: dict[str, Any], prov: dict[str, Any],
                  name: str = "metrics.json") -> Path:
    path = run_dir / name
    doc = {"experiment": cfg.name, "seed": cfg.seed, "metrics": metrics,
           "config": cfg.to_dict(), "provenance": prov}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def train_run(cfg: Config, resume: bool = False, command: str | None = None,
              overwrite: bool = False) -> dict[str, Any]:
    """Train (or resume) the run of ``cfg``, then evaluate it on the test split.

    Writes to ``cfg.run_dir``: checkpoint.pt, log.csv, config.yaml, figures and metrics.json.
    Under torchrun (several processes) all of them train, and process 0 alone evaluates and writes;
    the others return ``metrics`` None.
    """
    if cfg.train.seeds:
        return train_seeds(cfg, resume, command, overwrite)
    version = code_version()
    distributed.init(cfg.train.device)
    try:
        result = _train_run(cfg, resume, command, overwrite, version)
        distributed.barrier()  # the others wait for process 0's evaluation: all leave the group together
        return result
    finally:
        distributed.shutdown()


def check_labels(cfg: Config, splits: Splits) -> None:
    """The label models need every image's label in 0..n_classes-1 (label_aae: or -1, hidden by
    data.labelled); raise one line before anything is written."""
    kind = cfg.model.kind
    if kind not in ("supervised_aae", "label_aae", "semisupervised_aae", "dimred_aae"):
        return
    n = cfg.prior.n_components if kind == "label_aae" else cfg.model.n_classes
    for name in ("train", "val", "test"):
        y = splits[name].y
        if y is None:
            raise DataError(f"the {kind} model needs labels and data.dataset={cfg.data.dataset!r} has none "
                            "(a .npz with labels under 'y')")
        low = -1 if name == "train" and kind != "supervised_aae" else 0
        bad = (y < low) | (y >= n)
        if bool(bad.any()):
            raise DataError(f"the {kind} model needs labels in 0..{n - 1}; the {name} split of "
                            f"data.dataset={cfg.data.dataset!r} has {int(bad.sum())} outside (e.g. {int(y[bad][0])})")


def _train_run(cfg: Config, resume: bool, command: str | None, overwrite: bool,
               version: dict[str, Any]) -> dict[str, Any]:
    splits = load_splits(cfg.data, seed=cfg.seed)
    check_labels(cfg, splits)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, splits.train.dim, splits.train.image_shape)
    trainer = Trainer(model, cfg, splits.train, splits.val, cfg.run_dir, data_id=splits.data_id)
    world = distributed.world_size()
    log.info("training %s (%s) on %d images, %s%s; writing to %s", cfg.name, model.kind,
             len(splits.train), trainer.device_description,
             f", {world} processes (global batch {cfg.train.batch_size})" if world > 1 else "", trainer.run_dir)
    with locked(trainer.run_dir, enabled=trainer.main):
        return _fit_and_evaluate(trainer, cfg, splits, resume, overwrite, command, version)


def seed_configs(cfg: Config) -> list[Config]:
    """The single-seed config of each of ``train.seeds``: that seed, its run folder
    (<out_dir>/seed<N>, or runs/<name>/seed<N>), and no train.seeds."""
    return [dataclasses.replace(cfg, seed=seed, out_dir=str(Path(cfg.out_dir) / f"seed{seed}") if cfg.out_dir else None,
                                train=dataclasses.replace(cfg.train, seeds=[]))
            for seed in cfg.train.seeds]


def seed_stack(cfg: Config, splits: Splits | None = None):
    """The :class:`~aaekit.train.seeds.SeedStack` of ``train.seeds``: each seed's trainer built as
    :func:`train_run` builds it alone (its data split and labelled images, its model drawn from its
    seed), and each seed's splits (``splits``: one set for all, where given)."""
    from aaekit.train.seeds import SeedStack

    trainers, all_splits, rngs = [], [], []
    for c in seed_configs(cfg):
        s = splits or load_splits(c.data, seed=c.seed)
        check_labels(c, s)
        torch.manual_seed(c.seed)
        model = build_model(c, s.train.dim, s.train.image_shape)
        trainers.append(Trainer(model, c, s.train, s.val, c.run_dir, data_id=s.data_id))
        all_splits.append(s)
        device = trainers[-1].device
        rngs.append((torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None))
    return SeedStack(trainers, rngs), all_splits


def train_seeds(cfg: Config, resume: bool = False, command: str | None = None,
                overwrite: bool = False) -> dict[str, Any]:
    """Train the runs of ``train.seeds`` together in this process (aaekit.train.seeds), then
    evaluate each on the test split as :func:`train_run` does; returns each run's result (``runs``)."""
    from aaekit.train.seeds import together

    if distributed.launched():
        raise ConfigError("config key 'train.seeds': the seeds train together in one process, not under "
                          "torchrun; start it with aaekit train")
    version = code_version()
    stack, splits = seed_stack(cfg)
    trainers = stack.trainers
    log.info("training %s (%s), seeds %s together on %d images each, %s; writing to %s", cfg.name,
             trainers[0].model.kind, ", ".join(map(str, cfg.train.seeds)), len(splits[0].train),
             trainers[0].device_description, ", ".join(str(t.run_dir) for t in trainers))
    with contextlib.ExitStack() as locks:
        for t in trainers:
            locks.enter_context(locked(t.run_dir))
        stack.fit(resume=resume, overwrite=overwrite)
        runs = [_evaluate_and_write(t, t.cfg, s, command, version, together(trainers))
                for t, s in zip(trainers, splits, strict=True)]
    return {"run_dir": [r["run_dir"] for r in runs], "metrics": runs[0]["metrics"], "runs": runs}


def _fit_and_evaluate(trainer: Trainer, cfg: Config, splits: Splits, resume: bool, overwrite: bool,
                      command: str | None, version: dict[str, Any]) -> dict[str, Any]:
    trainer.fit(resume=resume, overwrite=overwrite)
    if not trainer.main:
        return {"run_dir": trainer.run_dir, "metrics": None}
    return _evaluate_and_write(trainer, cfg, splits, command, version)


def _evaluate_and_write(trainer: Trainer, cfg: Config, splits: Splits, command: str | None,
                        version: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trained run's test metrics, figures, config.yaml and metrics.json (``extra``: added to its
    provenance)."""
    model, world = trainer.model, distributed.world_size()
    # what ran: each phase's optimizer settings in full (the model's defaults included)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, optim=trainer.resolved_optim()))
    save_config(cfg, trainer.run_dir / "config.yaml")
    metrics = evaluate(model, splits.test, trainer.run_dir, trainer.device)
    metrics.update(model.final_evaluation(splits, trainer.device, trainer.run_dir))
    metrics["val"] = {k[4:]: v for k, v in trainer.history[-1].items() if k.startswith("val_")}
    prov = provenance(cfg, trainer.device_description, trainer.wall_time, trainer.epoch, command, version)
    prov.update(processes=world, peak_memory_mb=round(peak_memory_mb(trainer.device), 1), resumes=trainer.resumes,
                **(extra or {}))
    write_metrics(trainer.run_dir, cfg, metrics, prov)
    return {"run_dir": trainer.run_dir, "metrics": metrics}


@contextlib.contextmanager
def seeded_rng(device: torch.device, seed: int):
    """Draws inside come from a forked RNG seeded with ``seed``: reproducible, and the caller's RNG
    is left alone."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def evaluate(model: Model, test: ArrayDataset, out_dir: Path | None,
             device: torch.device | str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Test metrics of ``model`` and, if ``out_dir`` is given, its figures (codes, reconstructions,
    samples, manifold). Random draws (prior samples) come from ``seed`` in a forked RNG, so the
    numbers and figures are reproducible and the caller's RNG is left alone."""
    model.eval()
    x = test.floats(device)
    y = None if test.y is None else test.y.to(x.device)
    with seeded_rng(x.device, seed):
        metrics = model.evaluate(x, y)
        if out_dir is not None:
            _figures(model, x, test, Path(out_dir))
    return metrics


def _figures(model: Model, x: torch.Tensor, test: ArrayDataset, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    shape = test.image_shape
    if len(shape) >= 2:  # flat user data has no image form
        n = min(50, len(x) - len(x) % 10) or len(x)
        ncol = min(10, n)
        labels = None if test.y is None else test.y[:n].to(x.device)
        recon = model.decode(model.encode(x[:n]), labels).float()
        # rows alternate: ncol originals, then their reconstructions
        rows = torch.stack([x[:n].reshape(-1, ncol, x.shape[1]), recon.reshape(-1, ncol, x.shape[1])], 1)
        figures.save_grid(rows.reshape(2 * n, -1).cpu().numpy(), shape, out_dir / "reconstructions.png",
                          ncol=ncol, title="test images (odd rows) and reconstructions (even rows)")
        figures.save_grid(model.sample(100).cpu().float().numpy(), shape, out_dir / "samples.png",
                          title=f"samples: decoded draws of the {type(model.prior).__name__} prior")
    if model.code_dim == 2:
        z = torch.cat([model.encode(x[i : i + 1000]).float() for i in range(0, len(x), 1000)])
        z, y = z.cpu().numpy(), None if test.y is None else test.y.numpy()
        prior = model.prior.sample(5000).cpu().numpy()
        np.savez_compressed(out_dir / "codes.npz", z=z, y=y if y is not None else np.zeros(0),
                            prior=prior)
        figures.save_codes(z, y, out_dir / "codes.png", prior=prior,
                           title=f"{model.kind.upper()}: test codes over the prior (grey)")
        if len(shape) >= 2 and not model.decoder_takes_labels:  # the supervised AAE: style.png instead
            figures.save_grid(manifold(model, prior).cpu().numpy(), shape, out_dir / "manifold.png",
                              ncol=20, title="decoded 20 x 20 grid over the prior's central 98 %")


def manifold(model: Model, prior_samples: np.ndarray, n: int = 20) -> torch.Tensor:
    """Decoded images of a regular n x n grid spanning the 1st-99th percentile of the prior."""
    lo, hi = np.percentile(prior_samples, [1, 99], axis=0)
    a = torch.linspace(float(lo[0]), float(hi[0]), n)
    b = torch.linspace(float(hi[1]), float(lo[1]), n)
    grid = torch.stack(torch.meshgrid(b, a, indexing="ij")[::-1], -1).reshape(-1, 2)
    return model.decode(grid.to(model.prior_mean.device)).float()


def load_run(path: str | Path, device: str = "auto") -> tuple[Model, Config, dict[str, Any]]:
    """Model and config of a run directory or checkpoint file, rebuilt from the checkpoint alone."""
    path = Path(path)
    ckpt = path / CHECKPOINT if path.is_dir() else path
    dev = resolve_device(device)
    state = load_checkpoint(ckpt, dev)
    try:
        cfg = from_dict(state["config"])
        model = build_model(cfg, state["x_dim"], state.get("image_shape"))
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, ValueError) as e:
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{ckpt} cannot be loaded ({msg})") from None
    return model.to(dev).eval(), cfg, state


def encode_images(model: Model, x: np.ndarray, image_shape: tuple[int, ...] | list[int],
                  batch_size: int = 1000) -> dict[str, np.ndarray]:
    """``model.encode_outputs`` of the images ``x`` (uint8 in [0, 255] or floats in [0, 1], each of
    ``image_shape`` or flat), as float32 arrays; a wrong image size is a one-line DataError."""
    shape, size = tuple(image_shape), int(np.prod(image_shape))
    if tuple(x.shape[1:]) != shape and tuple(x.shape[1:]) != (size,):
        want = " x ".join(map(str, shape)) + (f" (or {size} flat)" if len(shape) > 1 else "")
        raise DataError(f"the images are {' x '.join(map(str, x.shape[1:]))}; this run models {want}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    device = model.prior_mean.device
    parts: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size])).to(device)
        xb = (xb.float().div_(255) if xb.dtype == torch.uint8 else xb.float()).reshape(len(xb), -1)
        for key, value in model.encode_outputs(xb).items():
            parts.setdefault(key, []).append(value.float().cpu().numpy())
    return {key: np.concatenate(values) for key, values in parts.items()}


def encode_run(path: str | Path, x: np.ndarray, device: str = "auto", batch_size: int = 1000) -> dict[str, np.ndarray]:
    """The codes (and class probabilities, reduced codes where the model has them) of the images
    ``x`` under the trained run at ``path``: see :func:`encode_images`."""
    model, _, state = load_run(path, device)
    return encode_images(model, x, state.get("image_shape") or (model.x_dim,), batch_size)


def _with_data_dir(cfg: Config, data_dir: str | None) -> Config:
    """``cfg`` reading its data from ``data_dir`` instead, where given (the data moved since training)."""
    if data_dir:
        cfg.data.data_dir = str(data_dir)
    return cfg


def _eval_provenance(cfg: Config, device: str, state: dict[str, Any], version: dict[str, Any],
                     eval_time_s: float) -> dict[str, Any]:
    """An evaluation's provenance: its own time and code, and the training's time and epochs, named so."""
    prov = provenance(cfg, device, eval_time_s, state["epoch"], version=version)
    del prov["wall_time_s"], prov["epochs"]
    prov.update(eval_time_s=round(eval_time_s, 2), training_wall_time_s=round(state["wall_time"], 2),
                training_epochs=state["epoch"])
    return prov


def eval_run(path: str | Path, split: str = "test", device: str = "auto",
             out_dir: str | Path | None = None, data_dir: str | None = None) -> dict[str, Any]:
    """Metrics of a trained run on ``split``; writes eval_<split>.json (with provenance) beside it."""
    version, start = code_version(), time.perf_counter()
    model, cfg, state = load_run(path, device)
    dev = model.prior_mean.device
    splits: Splits = load_splits(_with_data_dir(cfg, data_dir).data, seed=cfg.seed)
    metrics = evaluate(model, splits[split], Path(out_dir) if out_dir else None, dev)
    if split == "test":
        metrics.update(model.final_evaluation(splits, dev, Path(out_dir) if out_dir else None))
    run_dir = Path(path) if Path(path).is_dir() else Path(path).parent
    desc = describe_device(dev, resolve_bf16(cfg.train.precision, dev))
    prov = _eval_provenance(cfg, desc, state, version, time.perf_counter() - start)
    write_metrics(run_dir, cfg, {"split": split, **metrics}, prov, name=f"eval_{split}.json")
    return metrics


def parzen_run(path: str | Path, n_samples: int = 10000, seed: int = 0, device: str = "auto",
               sigmas=DEFAULT_SIGMAS, progress: bool = True, data_dir: str | None = None) -> dict[str, Any]:
    """Table 1 for a trained run: ``n_samples`` decoded prior draws (seeded) scored by a Parzen
    window (sigma chosen on val, reported on test), their Fréchet distance to the test images and a
    figure of samples beside their nearest training images. Writes parzen.json and nearest.png."""
    from aaekit.metrics.quality import sample_quality

    version = code_version()
    model, cfg, state = load_run(path, device)
    dev = model.prior_mean.device
    splits = load_splits(_with_data_dir(cfg, data_dir).data)
    with seeded_rng(dev, seed):
        samples = torch.cat([model.sample(min(1000, n_samples - i)).float() for i in range(0, n_samples, 1000)])
    run_dir = Path(path) if Path(path).is_dir() else Path(path).parent
    result = sample_quality(samples, splits, run_dir, sigmas, progress=progress,
                            title=f"{cfg.name}, seed {cfg.seed}: samples (sample seed {seed})")
    result["sample_seed"] = seed
    desc = describe_device(dev, resolve_bf16(cfg.train.precision, dev))
    # this evaluation's provenance, with the training's time and epochs (its own record, metrics.json
    # where the run has one, is copied under "training")
    prov = _eval_provenance(cfg, desc, state, version, result["eval_time_s"])
    trained = run_dir / "metrics.json"
    if trained.is_file():
        prov["training"] = json.loads(trained.read_text()).get("provenance")
    write_metrics(run_dir, cfg, result, prov, name="parzen.json")
    return result


def parzen_data(out_dir: str | Path, data: DataConfig, n_samples: int = 10000, seed: int = 0,
                device: str = "auto", sigmas=DEFAULT_SIGMAS, progress: bool = True) -> dict[str, Any]:
    """The same protocol with ``n_samples`` real training images as the "samples": the score of a
    generator that merely reproduced its training data. Writes parzen.json and nearest.png."""
    from aaekit.metrics.quality import sample_quality

    version = code_version()
    dev = resolve_device(device)
    splits = load_splits(data)
    if n_samples > len(splits.train):
        raise ConfigError(f"--n {n_samples} exceeds the {len(splits.train)} training images")
    pick = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(seed))[:n_samples]
    samples = splits.train.subset(pick).floats(dev)
    # the nearest-neighbour figure must not find a sample itself: search the other training images
    rest = torch.ones(len(splits.train), dtype=torch.bool)
    rest[pick] = False
    shown = Splits(splits.train.subset(rest.nonzero().squeeze(1)), splits.val, splits.test)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = sample_quality(samples, shown, out_dir, sigmas, progress=progress,
                            title=f"{n_samples} real training images")
    result["sample_seed"] = seed
    cfg = Config(name="parzen_real_data", seed=seed, out_dir=str(out_dir), data=data)
    cfg.model.kind = "data"
    prov = provenance(cfg, describe_device(dev, False), result["eval_time_s"], 0, version=version)
    write_metrics(out_dir, cfg, result, prov, name="parzen.json")
    return result

"""The one training loop. It runs a model's phases on each mini-batch and knows nothing about AAEs.

It owns the device and precision, one optimizer and lr schedule per phase, the NaN guard, progress
bars, CSV/TensorBoard logs, a checkpoint per epoch and bit-exact resume.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import csv
import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from aaekit.config import Config, ConfigError, OptimConfig, optim_config, valid_device
from aaekit.data import ArrayDataset, BatchLoader
from aaekit.data.loader import Batch
from aaekit.models.base import LossOutput, Model, Phase
from aaekit.nets import MLP
from aaekit.train import distributed
from aaekit.train.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    check_compatible,
    load_checkpoint,
    save_checkpoint,
)
from aaekit.train.graph import StepGraph, portable_state, unsupported
from aaekit.train.rundir import clear_outputs, run_outputs

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN/Inf; the message is one line, the last good checkpoint stays."""


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), where autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(name: str) -> torch.device:
    """auto (CUDA where present, else CPU), cpu, cuda or cuda:N; anything else is a ConfigError."""
    if not valid_device(name):
        raise ConfigError(f"device {name!r} is not auto, cpu or cuda[:N]")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name}: CUDA is not available here; use auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def resolve_bf16(precision: str, device: torch.device, graph: bool = False) -> bool:
    """Whether to train in bf16 autocast. ``auto`` takes what is faster where it runs: bf16 on a CPU
    that computes it natively; on a GPU bf16 only when each step runs as one CUDA graph (``graph``),
    since eager steps at the paper's batch of 100 are bound by kernel launches, and bf16's casts
    make them slower than fp32 (measured on an H200, issue 18; no committed file holds it yet)."""
    if precision == "fp32":
        return False
    supported = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16()
    if precision == "bf16":
        if device.type == "cpu" and not supported:
            log.warning("bf16 requested but this CPU has no native bf16: it will be slow")
        return True
    return supported and (graph or device.type != "cuda")


def describe_device(device: torch.device, bf16: bool) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"cpu, {torch.get_num_threads()} threads"
    return f"{name}, {'bf16' if bf16 else 'fp32'}"


@contextlib.contextmanager
def denormals_flushed(device: torch.device, enabled: bool):
    """Inside, a CPU treats denormal floats as zero (``train.flush_denormal``); a GPU is left alone."""
    flush = enabled and device.type == "cpu"
    if flush:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush:
            torch.set_flush_denormal(False)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process so far: CUDA memory allocated by torch on a GPU, else the
    resident set size (everything: Python, torch, the data)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:  # this process image's high-water mark (ru_maxrss would carry a launching parent's over exec)
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    except (OSError, StopIteration, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_optimizer(params: list[torch.nn.Parameter], opt: OptimConfig) -> torch.optim.Optimizer:
    """SGD or Adam with the fused kernel: one pass over each tensor per step, where the foreach
    kernels make several (the same SGD numbers bit for bit)."""
    if opt.name == "sgd":
        return torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum,
                               weight_decay=opt.weight_decay, fused=True)
    return torch.optim.Adam(params, lr=opt.lr, betas=tuple(opt.betas),
                            weight_decay=opt.weight_decay, fused=True)


@dataclass
class _PhaseState:
    phase: Phase
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    run: Callable[[Batch], LossOutput]  # the phase's loss (its DDP wrapper under torchrun)
    opt: OptimConfig  # resolved: the model's default, the config's overrides, the effective grad_clip

    @property
    def grad_clip(self) -> float | None:
        return self.opt.grad_clip
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    count: int = 0


class Trainer:
    """Trains ``model`` on ``train`` for ``cfg.train.epochs`` epochs, writing to ``run_dir``.

    Each epoch ends with held-out diagnostics on ``val`` (``model.evaluate``), a CSV row, and a
    checkpoint; ``fit(resume=True)`` continues from that checkpoint bit-exactly. All training
    randomness is drawn from torch's RNG (data order from a per-epoch seeded generator), whose
    state the checkpoint holds.

    Started by torchrun as one of several processes (``aaekit.train.distributed``), it trains on
    this process's share of each global batch with the phases' gradients averaged over processes;
    process 0 alone writes the checkpoint and logs.
    """

    def __init__(
        self, model: Model, cfg: Config, train: ArrayDataset, val: ArrayDataset | None = None,
        run_dir: str | Path | None = None, data_id: str | None = None,
    ) -> None:
        self.cfg = cfg
        tc = cfg.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.device = resolve_device(tc.device)
        self.model = model.to(self.device)
        if tc.compile != "none":  # in place: the state dict keeps its names
            for net in model.modules():
                if isinstance(net, MLP):
                    net.compile(mode=tc.compile)
        self.run_dir = Path(run_dir) if run_dir else cfg.run_dir
        self.main = distributed.is_main()
        self.data_id = data_id
        if tc.batch_size > len(train):
            raise ConfigError(f"config key 'train.batch_size': {tc.batch_size} exceeds the {len(train)} "
                              "training images")
        try:
            self.loader = BatchLoader(train, tc.batch_size, cfg.seed, self.device,
                                      rank=distributed.rank(), world=distributed.world_size())
        except ValueError as e:
            raise ConfigError(f"config key 'train.batch_size': {e}") from None
        self.image_shape = train.image_shape
        self.val_x = None if val is None else val.floats(self.device)
        self.val_y = None if val is None or val.y is None else val.y.to(self.device)
        self.states = []
        phases = model.phases()
        names = [p.name for p in phases]
        unknown = set(tc.optim) - set(names)
        if unknown:
            raise ConfigError(
                f"config train.optim names phase '{sorted(unknown)[0]}', but the {model.kind} "
                f"model's phases are {', '.join(names)}"
            )
        if any(p.source == "labelled" for p in phases) and (train.y is None or not bool((train.y >= 0).any())):
            raise ConfigError(f"the {model.kind} model's {', '.join(p.name for p in phases if p.source == 'labelled')} "
                              "phase trains on labelled images, and the training set has none (data.labelled)")
        for phase in phases:
            opt = optim_config(tc.optim.get(phase.name, {}), phase.optimizer,
                               f"train.optim.{phase.name}")
            optimizer = make_optimizer(phase.params, opt)
            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, opt.milestones, opt.gamma)
            opt = dataclasses.replace(opt, grad_clip=opt.grad_clip if opt.grad_clip is not None else tc.grad_clip)
            self.states.append(_PhaseState(phase, optimizer, scheduler,
                                           distributed.phase_runner(phase, self.device), opt))
        self.graph: StepGraph | None = None  # the step as one CUDA graph (train.cuda_graph), made by fit()
        self.bf16 = resolve_bf16(tc.precision, self.device, graph=unsupported(self) is None)
        self.epoch = 0  # epochs completed
        self.step = 0
        self.wall_time = 0.0
        self.history: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []  # each resume: at which epoch, what settings changed
        self._tb = None

    def resolved_optim(self) -> dict[str, dict[str, Any]]:
        """Each phase's optimizer settings as they run: the model's defaults with the config's
        overrides, and the grad_clip in effect."""
        return {s.phase.name: dataclasses.asdict(s.opt) for s in self.states}

    @property
    def device_description(self) -> str:
        return describe_device(self.device, self.bf16)

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.bf16:
            return contextlib.nullcontext()
        # no cast cache under a CUDA graph: a captured step must cast the weights it reads afresh
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=self.graph is None)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        optim = {s.phase.name: portable_state(s.optimizer, s.scheduler) for s in self.states}
        return {
            "kind": self.model.kind,
            "config": self.cfg.to_dict(),
            "x_dim": self.model.x_dim,
            "image_shape": list(self.image_shape),
            "epoch": self.epoch,
            "step": self.step,
            "wall_time": self.wall_time,
            "model": self.model.state_dict(),
            "optimizers": {name: o for name, (o, _) in optim.items()},
            "schedulers": {name: sch for name, (_, sch) in optim.items()},
            "rng": rng,
            "history": self.history,
            "optim": self.resolved_optim(),
            "data_id": self.data_id,
            "resumes": self.resumes,
        }

    def load_state_dict(self, state: dict[str, Any], path: Path) -> None:
        check_compatible(state, self.cfg.to_dict(), path, self.data_id)
        if state["epoch"] > self.cfg.train.epochs:
            raise ConfigError(f"{path} has {state['epoch']} epochs done, more than train.epochs="
                              f"{self.cfg.train.epochs}; set train.epochs to {state['epoch']} or more to resume it")
        saved_optim = self._saved_optim(state, path)
        try:
            self.model.load_state_dict(state["model"])
            for s in self.states:
                s.optimizer.load_state_dict(state["optimizers"][s.phase.name])
                s.scheduler.load_state_dict(state["schedulers"][s.phase.name])
        except (KeyError, RuntimeError, ValueError) as e:
            msg = str(e).strip().splitlines()[0][:200]
            raise CheckpointError(f"{path} does not fit this model ({msg})") from None
        rng = state["rng"]  # CPU byte tensors whatever the map location (load_checkpoint)
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.epoch, self.step = state["epoch"], state["step"]
        self.wall_time, self.history = state["wall_time"], list(state["history"])
        self.resumes = list(state.get("resumes", []))
        changes = self._apply_optim(saved_optim)
        self.resumes.append({"epoch": self.epoch, "optim_changes": changes})
        for line in changes:
            log.info("resumed with new optimizer settings for %s", line)

    def _saved_optim(self, state: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
        """Each phase's optimizer settings the checkpoint trained with (older checkpoints without
        that record: their config's overrides over the model's defaults)."""
        saved = state.get("optim")
        if saved is None:
            tc = state["config"]["train"]
            saved = {}
            for s in self.states:
                opt = optim_config(tc.get("optim", {}).get(s.phase.name, {}), s.phase.optimizer, "checkpoint")
                clip = opt.grad_clip if opt.grad_clip is not None else tc.get("grad_clip")
                saved[s.phase.name] = dataclasses.asdict(dataclasses.replace(opt, grad_clip=clip))
        for s in self.states:
            old, new = saved.get(s.phase.name, {}), s.opt
            if old.get("name", new.name) != new.name:
                raise CheckpointError(
                    f"{path} trained the {s.phase.name} phase with {old['name']}, the config asks for "
                    f"{new.name}: the optimizer's state does not carry over; use another out_dir")
        return saved

    def _apply_optim(self, saved: dict[str, dict[str, Any]]) -> list[str]:
        """Make each phase's optimizer and lr schedule follow the config where it changed since the
        checkpoint (lr, milestones, gamma, momentum, betas, weight_decay, grad_clip): the lr of the
        coming epoch is the new schedule's at that epoch. Returns one line per changed phase."""
        lines = []
        for s in self.states:
            old, new = saved.get(s.phase.name, {}), dataclasses.asdict(s.opt)
            diff = {k: (old.get(k), v) for k, v in new.items() if k in old and old[k] != v}
            if new["name"] == "sgd":
                diff.pop("betas", None)
            else:
                diff.pop("momentum", None)
            if not diff:
                continue
            opt = s.opt
            lr_now = opt.lr * opt.gamma ** bisect.bisect_right(opt.milestones, self.epoch)
            for g in s.optimizer.param_groups:
                g.update(lr=lr_now, initial_lr=opt.lr, weight_decay=opt.weight_decay)
                if opt.name == "sgd":
                    g["momentum"] = opt.momentum
                else:
                    g["betas"] = tuple(opt.betas)
            sched = s.scheduler
            sched.milestones, sched.gamma = collections.Counter(opt.milestones), opt.gamma
            sched.base_lrs = [opt.lr] * len(s.optimizer.param_groups)
            sched._last_lr = [lr_now] * len(s.optimizer.param_groups)
            what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in diff.items())
            lines.append(f"{s.phase.name}: {what} (lr {lr_now:g} from epoch {self.epoch + 1})")
        return lines

    def save(self) -> None:
        if not self.main:
            return
        try:
            save_checkpoint(self.state_dict(), self.checkpoint_path)
        except CheckpointWriteError as e:
            kept = (f"the last good checkpoint (epoch {self.epoch - 1}) is kept"
                    if self.checkpoint_path.exists() else "no checkpoint was written")
            raise CheckpointWriteError(f"epoch {self.epoch} could not be saved: {e}; {kept}") from None

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, resume: bool = False, overwrite: bool = False) -> list[dict[str, Any]]:
        """Train to ``cfg.train.epochs``; ``resume`` continues the run folder's checkpoint (or starts
        a new run where there is none), ``overwrite`` starts afresh over it."""
        self.begin(resume, overwrite)
        self.prepare_graph()
        try:
            with denormals_flushed(self.device, self.cfg.train.flush_denormal):
                while self.epoch < self.cfg.train.epochs:
                    start = time.perf_counter()
                    row = self._train_epoch()
                    self.end_epoch(row, time.perf_counter() - start)
        finally:
            self.finish()
        return self.history

    def begin(self, resume: bool = False, overwrite: bool = False) -> None:
        """Before the first epoch: load the checkpoint (``resume``) or clear an earlier run's files
        (``overwrite``), or refuse to write over a run; start the CSV (and TensorBoard) logs."""
        old = [p.name for p in run_outputs(self.run_dir)]
        if resume and self.checkpoint_path.exists():
            path = self.checkpoint_path
            self.load_state_dict(load_checkpoint(path, "cpu"), path)
            log.info("resumed from %s at epoch %d", path, self.epoch)
        elif old and not overwrite and not resume:
            what = "checkpoint.pt" if "checkpoint.pt" in old else ", ".join(old[:3])
            raise CheckpointError(
                f"{self.run_dir} holds a run ({what}); pass --resume to continue it, --overwrite to start "
                "over, or use another out_dir"
            )
        # a new run (--overwrite, or --resume finding no checkpoint): nothing of an earlier one may stay
        if not self.epoch and old and self.main:
            clear_outputs(self.run_dir)
            log.info("removed the earlier run's files from %s (%s)", self.run_dir, ", ".join(old))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._rewrite_csv()
        if self.cfg.train.tensorboard and self.main:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def end_epoch(self, row: dict[str, Any], seconds: float) -> None:
        """After an epoch's steps (``row``: its logged means, ``seconds`` of training): the held-out
        diagnostics, the lr schedules' step, the CSV row and the checkpoint."""
        start = time.perf_counter()
        # batch norm's running statistics: each process has its own shards'; all evaluate
        # and checkpoint their average
        distributed.average_buffers(self.model)
        self._check_weights()
        tc, done = self.cfg.train, self.epoch + 1
        if self.val_x is not None:  # every process evaluates: their RNGs stay in step
            if done == 1 or done % tc.val_every == 0 or done >= tc.epochs:
                row.update({f"val_{k}": v for k, v in self.model.evaluate(self.val_x, self.val_y).items()})
            else:  # the columns of the first epoch's row, empty
                row.update({k: None for k in self.history[0] if k.startswith("val_")})
        for s in self.states:
            s.scheduler.step()
        self.epoch += 1
        seconds += time.perf_counter() - start
        self.wall_time += seconds
        row = {"epoch": self.epoch, **row, "epoch_time_s": seconds}
        self.history.append(row)
        if self.epoch % tc.checkpoint_every == 0 or self.epoch >= tc.epochs:
            self.save()
        self._log_row(row)

    def finish(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def step_phases(self, batch: Batch, labelled: Callable[[], Batch]) -> None:
        """One training step: each phase due at ``batch.step``, in order, on ``batch`` or (phases
        with ``source="labelled"``) on ``labelled()``; each phase's logged values added to its sums.
        Run eagerly, or captured as one CUDA graph (aaekit.train.graph)."""
        lab = None
        for s in self.states:
            if batch.step % s.phase.every:
                continue
            if s.phase.source == "labelled" and lab is None:
                lab = labelled()
            s.optimizer.zero_grad(set_to_none=True)
            with self.autocast():
                out = s.run(lab if s.phase.source == "labelled" else batch)
            loss, extras = out if isinstance(out, tuple) else (out, {})
            # Gradients only for this phase's parameters: the generator phase backpropagates
            # through the discriminator without filling the discriminator's grads.
            loss.backward(inputs=s.phase.params)
            if s.grad_clip:
                torch.nn.utils.clip_grad_norm_(s.phase.params, s.grad_clip, foreach=True)
            s.optimizer.step()
            for k, v in {"loss": loss.detach(), **extras}.items():
                v = v.detach().float()
                if k in s.sums:
                    s.sums[k].add_(v)  # in place: a captured step adds into the same tensors
                else:
                    s.sums[k] = v.clone()
            s.count += 1

    def prepare_graph(self) -> None:
        """Run the training steps as one CUDA graph from here on where train.cuda_graph asks and the
        model and settings allow it (aaekit.train.graph); else say why, once, on a GPU."""
        if self.graph is not None:
            return
        reason = unsupported(self)
        if reason is None:
            self.graph = StepGraph(self)
        elif self.device.type == "cuda" and self.cfg.train.cuda_graph:
            log.info("train.cuda_graph: eager steps, %s", reason)

    def _train_epoch(self) -> dict[str, Any]:
        model, tc, graph = self.model, self.cfg.train, self.graph
        model.train()
        for s in self.states:
            for v in s.sums.values():
                v.zero_()
            s.count = 0
        batches = self.loader.epoch_indices(self.epoch) if graph else self.loader.epoch(self.epoch, self.step)
        bar = tqdm(
            batches, total=len(self.loader), leave=False,
            desc=f"epoch {self.epoch + 1}/{tc.epochs}", disable=not (tc.progress and self.main),
            dynamic_ncols=True,
        )
        for i, batch in enumerate(bar):
            if graph is None:
                self.step_phases(batch, functools.partial(self.loader.labelled, batch.step))
            elif len(batch) == graph.size:
                graph.run(batch, self.step)
            else:  # a last, smaller batch: eagerly
                self.step_phases(self.loader.batch(batch, self.step),
                                 functools.partial(self.loader.labelled, self.step))
            self.step += 1
            if (i + 1) % tc.log_every == 0:  # the only host-device sync inside an epoch
                losses = self._check_losses()
                bar.set_postfix({k[:-5]: f"{v:.3g}" for k, v in losses.items() if k.endswith("_loss")},
                                refresh=False)
        bar.close()
        row = self._check_losses()
        for s in self.states:
            row[f"lr_{s.phase.name}"] = float(s.optimizer.param_groups[0]["lr"])
        return row

    def _check_losses(self) -> dict[str, float]:
        """Mean of each logged value this epoch so far; stops training on a NaN/Inf loss."""
        row = {}
        for s in self.states:
            if not s.count:
                continue
            names = list(s.sums)
            values = distributed.mean_over_processes(torch.stack([s.sums[k] for k in names]) / s.count).tolist()
            for k, v in zip(names, values, strict=True):
                if k == "loss" and not math.isfinite(v):
                    self._diverged(f"the {s.phase.name} loss became {v}")
                row[f"{s.phase.name}_{k}" if k != "loss" else f"{s.phase.name}_loss"] = v
        return row

    def _check_weights(self) -> None:
        finite = torch.stack([p.isfinite().all() for p in self.model.parameters()]).all()
        if not bool(finite):
            self._diverged("a weight became NaN/Inf")

    def _diverged(self, what: str) -> None:
        kept = (
            f"the last good checkpoint (epoch {self.epoch}) is kept at {self.checkpoint_path}"
            if self.checkpoint_path.exists() else "no checkpoint was written"
        )
        raise TrainingDiverged(
            f"training diverged in epoch {self.epoch + 1}: {what}; {kept}; "
            "lower the learning rate or set train.grad_clip"
        )

    # -- logs --------------------------------------------------------------------------------
    @property
    def csv_path(self) -> Path:
        return self.run_dir / "log.csv"

    def _rewrite_csv(self) -> None:
        """The CSV holds exactly the checkpoint's history (a resumed run drops later rows)."""
        if not self.main:
            return
        self.csv_path.unlink(missing_ok=True)
        for row in self.history:
            self._append_csv(row)

    def _append_csv(self, row: dict[str, Any]) -> None:
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row), extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def _log_row(self, row: dict[str, Any]) -> None:
        if not self.main:
            return
        self._append_csv(row)
        if self._tb is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, int | float):
                    self._tb.add_scalar(k, v, self.epoch)
        shown = {k: v for k, v in row.items() if v is not None and (k.endswith("loss") or k.startswith("val_"))}
        log.info("epoch %d: %s", self.epoch,
                 ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))

"""One training step, every phase, as one CUDA graph (``train.cuda_graph``).

At the paper's batch of 100 an eager step is bound by kernel launches: the GPU waits on Python.
:class:`StepGraph` captures the trainer's step function (``Trainer.step_phases``: each phase's
forward, backward and optimizer step, the prior draws and input noise included) once, with the
data resident on the GPU, and replays it for every full batch: per step only the batch's row
indices (and the labelled batch's) are copied into static buffers. The learning rates live in
device tensors, so the lr schedule needs no new capture; the logged sums are added up in place.

The same step function runs eagerly on a CPU, and with ``capture=False`` this class runs it there
through the same static buffers and tensor learning rates: the test that a step through them
equals the eager trainer's, number for number, runs without a GPU.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch

from aaekit.train import distributed

if TYPE_CHECKING:
    from aaekit.train.trainer import Trainer

log = logging.getLogger(__name__)

# Eager steps (real training steps, on a side stream) before the capture: the optimizers' state,
# the logged sums and the CUDA libraries' workspaces exist by then.
WARMUP_STEPS = 3


def unsupported(trainer: Trainer) -> str | None:
    """Why the trainer's step cannot run as one CUDA graph, or None where it can."""
    tc = trainer.cfg.train
    if not tc.cuda_graph:
        return "train.cuda_graph is off"
    if trainer.device.type != "cuda":
        return "not on a CUDA device"
    if distributed.world_size() > 1:
        return "under torchrun (each step averages gradients across processes)"
    if tc.compile != "none":
        return f"with train.compile: {tc.compile}"
    if any(s.phase.every != 1 for s in trainer.states):
        return "a phase runs on every n-th batch only"
    return None


def tensor_lrs(optimizers: list[torch.optim.Optimizer], device: torch.device) -> None:
    """Every param group's lr as a one-element tensor on ``device`` (the schedulers then fill it in
    place): float64 on a CPU, whose fused SGD then gives the numbers of a float lr bit for bit;
    float32 on a GPU, whose fused kernels read a float32 lr (the value they use for a float one)."""
    dtype = torch.float64 if device.type == "cpu" else torch.float32
    for opt in optimizers:
        for g in opt.param_groups:
            if not isinstance(g["lr"], torch.Tensor):
                g["lr"] = torch.tensor(g["lr"], dtype=dtype, device=device)


def portable_state(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler
                   ) -> tuple[dict, dict]:
    """The state dicts of an optimizer and its scheduler as an eager run would save them: tensor
    lrs as floats, Adam not capturable, so that a checkpoint resumes anywhere (a CPU included)."""
    opt = optimizer.state_dict()
    for g in opt["param_groups"]:
        if isinstance(g.get("lr"), torch.Tensor):
            g["lr"] = g["lr"].item()
        if g.get("capturable"):
            g["capturable"] = False
    sched = scheduler.state_dict()
    if "_last_lr" in sched:
        sched["_last_lr"] = [v.item() if isinstance(v, torch.Tensor) else v for v in sched["_last_lr"]]
    return opt, sched


class CapturedStep:
    """A step function over static index buffers (``shape``: the rows of one step), run eagerly for
    :data:`WARMUP_STEPS` steps on a side stream, then captured as one CUDA graph and replayed; with
    ``capture=False`` (or off a GPU) run eagerly through the same buffers. Subclasses give the step
    (:meth:`_step`) and the phases' step counters (:meth:`_counts`, :meth:`_set_counts`)."""

    def __init__(self, device: torch.device, optimizers: list[torch.optim.Optimizer], shape: tuple[int, ...],
                 labelled: bool, capture: bool = True) -> None:
        self.size = shape[-1]
        self.idx = torch.zeros(shape, dtype=torch.long, device=device)
        self.labelled = labelled
        self.labelled_idx = torch.zeros(shape, dtype=torch.long, device=device) if labelled else None
        self.capture = capture and device.type == "cuda"
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0
        self.optimizers = optimizers
        tensor_lrs(optimizers, device)
        if self.capture:
            for opt in optimizers:  # Adam steps inside a capture only when told it may
                for g in opt.param_groups:
                    if "capturable" in g:
                        g["capturable"] = True
                for state in opt.state.values():  # a resumed Adam's step counts, on the device
                    if torch.is_tensor(state.get("step")):
                        state["step"] = state["step"].to(device)
            self.stream = torch.cuda.Stream(device)

    def _step(self) -> None:
        raise NotImplementedError

    def _counts(self) -> list[int]:
        raise NotImplementedError

    def _set_counts(self, counts: list[int]) -> None:
        raise NotImplementedError

    def run(self, idx: torch.Tensor, labelled_idx: torch.Tensor | None = None) -> None:
        """One step on the rows ``idx`` (and the labelled rows ``labelled_idx``, where a phase takes them)."""
        self.idx.copy_(idx, non_blocking=True)
        if self.labelled:
            self.labelled_idx.copy_(labelled_idx, non_blocking=True)
        if self.graph is not None:
            self.graph.replay()
            self._set_counts([c + 1 for c in self._counts()])
            return
        if not self.capture:
            self._step()
            return
        if self.eager_steps < WARMUP_STEPS:
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                self._step()
            torch.cuda.current_stream().wait_stream(self.stream)
            self.eager_steps += 1
            return
        counts = self._counts()
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._step()
        except Exception as e:  # noqa: BLE001 - any failure to capture: train on eagerly
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            log.warning("train.cuda_graph: the step could not be captured as a CUDA graph (%s); "
                        "training goes on with eager steps", msg)
            self.capture = False
            self._set_counts(counts)
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            self._step()
            return
        self.graph = graph  # the capture ran no step: this one is its first replay (the buffers hold it)
        log.info("train.cuda_graph: each training step runs as one CUDA graph")
        graph.replay()
        self._set_counts([c + 1 for c in counts])


class StepGraph(CapturedStep):
    """The trainer's step function over static index buffers; captured as a CUDA graph on a GPU."""

    def __init__(self, trainer: Trainer, capture: bool = True) -> None:
        self.trainer = trainer
        super().__init__(trainer.device, [s.optimizer for s in trainer.states], (trainer.loader.batch_size,),
                         any(s.phase.source == "labelled" for s in trainer.states), capture)

    def _step(self) -> None:
        t = self.trainer
        t.step_phases(t.loader.batch(self.idx), lambda: t.loader.batch(self.labelled_idx))

    def _counts(self) -> list[int]:
        return [s.count for s in self.trainer.states]

    def _set_counts(self, counts: list[int]) -> None:
        for s, c in zip(self.trainer.states, counts, strict=True):
            s.count = c

    def run(self, idx: torch.Tensor, step: int) -> None:  # type: ignore[override]
        """Train on the rows ``idx`` as global step ``step`` (its labelled batch drawn for ``step``)."""
        labelled = self.trainer.loader.labelled_indices(step) if self.labelled else None
        super().run(idx, labelled)

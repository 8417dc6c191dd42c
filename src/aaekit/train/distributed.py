"""Data parallelism on PyTorch's own engine: processes started by ``torchrun``, one
``DistributedDataParallel`` per training phase (gloo on CPU, nccl on GPU).

    torchrun --nproc_per_node=4 -m aaekit train configs/demo.yaml

``train.batch_size`` stays the global batch: each process takes an equal share of it, every
phase's gradients are averaged over the processes before its optimizer steps, and per-image random
draws (prior samples, noise) are made for the whole global batch on every process (``Batch.draw``),
whose RNGs stay in step. So N processes learn what one process learns with the same global batch,
up to float rounding, and a checkpoint written by N processes resumes in any number of them.
Process 0 alone writes the checkpoint, logs, figures and metrics.json.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from aaekit.data.loader import Batch
from aaekit.models.base import LossOutput, Phase


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str = "auto") -> None:
    """Join the process group torchrun set up (no-op for a single process): nccl where the run
    trains on CUDA (each process on GPU ``LOCAL_RANK``), gloo otherwise."""
    if not launched() or dist.is_initialized():
        return
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group; the run's DDP wrappers are collected first, so that no pending work
    of theirs outlives it (gloo aborts a process whose worker threads still hold some at exit)."""
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def mean_over_processes(t: torch.Tensor) -> torch.Tensor:
    """``t`` averaged over all processes (itself for one process)."""
    if world_size() == 1:
        return t
    t = t.clone()
    dist.all_reduce(t)  # gloo has no AVG
    return t / world_size()


def average_buffers(model: nn.Module) -> None:
    """Average batch norm's running statistics (each process's from its own shards) over all
    processes, in place; nothing for one process or a model without batch norm."""
    if world_size() == 1:
        return
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(mean_over_processes(m.running_mean))
            m.running_var.copy_(mean_over_processes(m.running_var))


class _PhaseModule(nn.Module):
    """A phase as a module whose parameters are exactly the phase's: DDP then averages the
    gradients of those parameters, and of no others, after the phase's backward pass."""

    def __init__(self, phase: Phase) -> None:
        super().__init__()
        self.params = nn.ParameterList(phase.params)
        self.loss = phase.loss  # the model's bound method; the model itself is not a submodule here

    def forward(self, batch: Batch) -> LossOutput:
        return self.loss(batch)


def phase_runner(phase: Phase, device: torch.device) -> Callable[[Batch], LossOutput]:
    """What computes ``phase``'s loss: the loss itself for one process, under several a DDP wrapper
    (which also broadcasts process 0's parameters, so every process starts from the same weights)."""
    if world_size() == 1:
        return phase.loss
    ids = [torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(_PhaseModule(phase), device_ids=ids)

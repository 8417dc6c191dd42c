"""Several seeds in one process (``train.seeds``): K independent runs as one batched computation.

Each seed keeps its own :class:`~aaekit.train.Trainer` (its model, data order, labelled images, lr
schedule, RNG, run folder, checkpoint and logs, exactly as when it trains alone), but their steps
run together: the K models' weights are stacked into one tensor per parameter, each phase's loss is
computed for all K at once by ``torch.func.vmap`` over ``functional_call`` (the nets' matrix
products become batched ones), and one optimizer per phase steps the stacked weights (SGD and Adam
act elementwise: the same numbers as K optimizers). At the paper's batch of 100 a step is bound by
kernel launches on a GPU, so K models cost little more than one.

Random draws (prior samples, input noise, a label model's draws) all go through ``Batch.draw``:
here each seed's draws come from that seed's own RNG state, in the order it would make them alone,
so each run equals (to float tolerance: batched products round differently) the same seed trained
alone. Held-out evaluation, checkpoints and logs are each seed's own, once per epoch.

On a GPU with ``train.cuda_graph`` (the default) the step of all K is captured as one CUDA graph
(aaekit.train.graph; the seeds' rows and labelled rows copied into (K, batch) buffers). A seed's own
RNG state cannot be swapped in inside a capture, so there every seed's draws come from one shared
stream, in turn: each seed still has its own draws and data order, and the runs resume exactly,
but a seed's numbers are no longer those of the seed trained alone (``train.cuda_graph: false``
gives those back, eagerly).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from aaekit.config import ConfigError
from aaekit.data.loader import Batch
from aaekit.train import distributed
from aaekit.train.checkpoint import CheckpointError
from aaekit.train.graph import CapturedStep
from aaekit.train.trainer import denormals_flushed, make_optimizer

if TYPE_CHECKING:
    from aaekit.models.base import Phase
    from aaekit.train.trainer import Trainer

log = logging.getLogger(__name__)

# what a phase's param groups take from the seeds' own (identical) optimizers each epoch: the lr
# schedule's value and whatever a resume changed
GROUP_KEYS = ("lr", "momentum", "betas", "weight_decay")


def unsupported(trainers: list[Trainer]) -> str | None:
    """Why these trainers cannot train as one batched computation, or None where they can."""
    t = trainers[0]
    if distributed.world_size() > 1:
        return "not under torchrun (each process would train all the seeds); train the seeds in one process"
    if t.cfg.train.compile != "none":
        return f"not with train.compile: {t.cfg.train.compile}"
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in t.model.modules()):
        return (f"the {t.model.kind} model has dropout (model.dropout / model.discriminator_dropout), whose masks "
                "the batched step cannot draw per seed; train the seeds one by one")
    params = {n for n, _ in t.model.named_parameters()}
    buffers = [k for k in t.model.state_dict() if k not in params]
    if buffers:
        return (f"the {t.model.kind} model keeps running statistics ({buffers[0]}: batch norm), which the "
                "batched step cannot update per seed; train the seeds one by one")
    return None


class _Call(nn.Module):
    """Calls a phase's loss with the model's parameters swapped for one seed's (under vmap)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, loss, batch: Batch):
        return loss(batch)


@dataclasses.dataclass
class _StackedPhase:
    index: int
    phase: Phase
    names: list[str]  # its parameters' names in the model
    optimizer: torch.optim.Optimizer


@dataclasses.dataclass
class _SeedBatch(Batch):
    """One seed's batch inside the vmapped loss; its draws are that seed's, from its own RNG."""

    stack: SeedStack | None = None
    ys: torch.Tensor | None = None  # every seed's labels, (K, B), unbatched
    k: torch.Tensor | None = None  # this seed's index (batched by vmap)

    def draw(self, sampler):
        outs = []
        for j in range(self.stack.k):
            with contextlib.nullcontext() if self.stack.shared_draws else self.stack.rng_of(j):
                outs.append(sampler(None if self.ys is None else self.ys[j], len(self.x)))
        if isinstance(outs[0], tuple):
            return tuple(None if parts[0] is None else torch.stack(parts)[self.k] for parts in zip(*outs, strict=True))
        return torch.stack(outs)[self.k]


class SeedStack:
    """Trains ``trainers`` (one per seed, each built as for a run alone; ``rng_states``: the torch RNG
    state each would start from) together, each writing its own run folder."""

    def __init__(self, trainers: list[Trainer], rng_states: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        reason = unsupported(trainers)
        if reason is not None:
            raise ConfigError(f"config key 'train.seeds': the seeds train together {reason}")
        self.trainers, self.k = trainers, len(trainers)
        self.rng = list(rng_states)
        t0 = trainers[0]
        self.device = t0.device
        self.call = _Call(t0.model)  # the template: each seed's weights are swapped into it
        names = {id(p): n for n, p in t0.model.named_parameters()}
        self.params = {n: torch.stack([dict(t.model.named_parameters())[n].detach() for t in trainers]).requires_grad_()
                       for n in names.values()}
        self.phases = []
        for j, s in enumerate(t0.states):
            pnames = [names[id(p)] for p in s.phase.params]
            optimizer = make_optimizer([self.params[n] for n in pnames], s.opt)
            self.phases.append(_StackedPhase(j, s.phase, pnames, optimizer))
        self.sums: list[dict[str, torch.Tensor]] = [{} for _ in self.phases]
        self.counts = [0] * len(self.phases)
        self.graph: _StackGraph | None = None  # the step as one CUDA graph (train.cuda_graph), made by fit()
        # under a graph every seed's draws come from one stream, in turn: a seed's own RNG state cannot
        # be swapped in inside a capture (see the module's doc)
        self.shared_draws = False

    # -- each seed's RNG -----------------------------------------------------------------------
    def _rng_now(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return torch.get_rng_state(), cuda

    @contextlib.contextmanager
    def rng_of(self, k: int) -> Iterator[None]:
        """Torch's RNG is seed ``k``'s inside (its state carried on afterwards)."""
        cpu, cuda = self.rng[k]
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, self.device)
        try:
            yield
        finally:
            self.rng[k] = self._rng_now()

    # -- state between the seeds' trainers and the stack ---------------------------------------
    def _param_of(self, t: Trainer, name: str) -> nn.Parameter:
        return t.model.get_parameter(name)

    @torch.no_grad()
    def gather(self) -> None:
        """The stack takes each seed's weights and optimizer state (new, or loaded by a resume)."""
        for n, stacked in self.params.items():
            stacked.copy_(torch.stack([self._param_of(t, n) for t in self.trainers]))
        for ph in self.phases:
            opt = ph.optimizer
            for n, stacked in zip(ph.names, opt.param_groups[0]["params"], strict=True):
                states = [t.states[ph.index].optimizer.state.get(self._param_of(t, n), {}) for t in self.trainers]
                if not states[0]:
                    opt.state.pop(stacked, None)
                    continue
                opt.state[stacked] = {key: torch.stack([s[key] for s in states]).to(stacked.device)
                                      if torch.is_tensor(v) and v.dim() else
                                      (v.clone() if torch.is_tensor(v) else v)
                                      for key, v in states[0].items()}
        self._sync_groups()

    def _sync_groups(self) -> None:
        """Each phase's lr (and a resume's changes) from the seeds' own optimizers: one schedule for all."""
        for ph in self.phases:
            src = self.trainers[0].states[ph.index].optimizer.param_groups[0]
            for g in ph.optimizer.param_groups:
                for key in GROUP_KEYS:
                    if key in g and torch.is_tensor(g[key]):  # a captured step reads it in place
                        g[key].fill_(src[key])
                    elif key in g:
                        g[key] = src[key]

    @torch.no_grad()
    def scatter(self) -> None:
        """Each seed's trainer gets its weights, optimizer state and logged sums back from the stack."""
        for k, t in enumerate(self.trainers):
            for n, stacked in self.params.items():
                self._param_of(t, n).copy_(stacked[k])
            for ph in self.phases:
                mine = t.states[ph.index]
                for n, stacked in zip(ph.names, ph.optimizer.param_groups[0]["params"], strict=True):
                    state = ph.optimizer.state.get(stacked)
                    if state:
                        mine.optimizer.state[self._param_of(t, n)] = {
                            key: v[k].clone() if torch.is_tensor(v) and v.shape == stacked.shape else
                            (v.clone() if torch.is_tensor(v) else v) for key, v in state.items()}
                mine.sums = {key: v[k].clone() for key, v in self.sums[ph.index].items()}
                mine.count = self.counts[ph.index]

    # -- training --------------------------------------------------------------------------------
    def fit(self, resume: bool = False, overwrite: bool = False) -> None:
        """Train every seed to ``train.epochs`` (``resume``: from their checkpoints, all at one epoch)."""
        try:
            for k, t in enumerate(self.trainers):
                with self.rng_of(k):  # a resume loads the seed's RNG state with its checkpoint
                    t.begin(resume, overwrite)
            done = {t.run_dir.name: t.epoch for t in self.trainers}
            if len(set(done.values())) > 1:
                raise CheckpointError("train.seeds: the runs' checkpoints are at different epochs ("
                                      + ", ".join(f"{name}: {e}" for name, e in done.items())
                                      + "); resume them one by one to the same epoch first")
            self.gather()
            self.prepare_graph()
            with denormals_flushed(self.device, self.trainers[0].cfg.train.flush_denormal):
                self._fit_epochs()
        finally:  # each seed's TensorBoard writer closed, whatever stopped them
            for t in self.trainers:
                t.finish()

    def _fit_epochs(self) -> None:
        t0 = self.trainers[0]
        while t0.epoch < t0.cfg.train.epochs:
            start = time.perf_counter()
            self._train_epoch()
            seconds = time.perf_counter() - start
            self.scatter()
            for k, t in enumerate(self.trainers):
                # the seeds' own optimizers hold their lr schedules; the stack's took their steps
                with self.rng_of(k), warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
                    row = t._check_losses()
                    row.update({f"lr_{s.phase.name}": float(s.optimizer.param_groups[0]["lr"]) for s in t.states})
                    t.end_epoch(row, seconds)
            self._sync_groups()

    def _train_epoch(self) -> None:
        t0, tc = self.trainers[0], self.trainers[0].cfg.train
        for t in self.trainers:
            t.model.train()
        for sums in self.sums:
            for v in sums.values():
                v.zero_()
        self.counts = [0] * len(self.phases)
        orders = [t.loader.epoch_indices(t.epoch) for t in self.trainers]
        bar = tqdm(zip(*orders, strict=True), total=len(t0.loader), leave=False, dynamic_ncols=True,
                   desc=f"epoch {t0.epoch + 1}/{tc.epochs}, {self.k} seeds", disable=not tc.progress)
        for i, rows in enumerate(bar):
            if self.graph is not None and all(len(r) == self.graph.size for r in rows):
                self.graph.run(torch.stack(rows), self._labelled_indices(t0.step) if self.graph.labelled else None)
            else:
                self.step([t.loader.batch(idx, t0.step) for t, idx in zip(self.trainers, rows, strict=True)])
            for t in self.trainers:
                t.step += 1
            if (i + 1) % tc.log_every == 0:  # the only host-device sync inside an epoch
                bar.set_postfix({k: f"{v:.3g}" for k, v in self._check_losses().items()}, refresh=False)
        bar.close()

    def _check_losses(self) -> dict[str, float]:
        """Each phase's mean loss this epoch so far, over the seeds; a seed whose loss became NaN/Inf
        stops training (its message names its run folder and last good checkpoint)."""
        means = {}
        for ph, sums, count in zip(self.phases, self.sums, self.counts, strict=True):
            if "loss" not in sums or not count:
                continue
            per_seed = (sums["loss"] / count).tolist()
            for t, v in zip(self.trainers, per_seed, strict=True):
                if not math.isfinite(v):
                    t._diverged(f"the {ph.phase.name} loss of {t.run_dir} became {v}")
            means[ph.phase.name] = sum(per_seed) / len(per_seed)
        return means

    def _labelled_indices(self, step: int) -> torch.Tensor:
        return torch.stack([t.loader.labelled_indices(step) for t in self.trainers])

    def prepare_graph(self) -> None:
        """Run the steps as one CUDA graph where train.cuda_graph asks and the phases allow it (with
        ``capture=False`` on a CPU: the same path, eagerly, for the tests); else say why, on a GPU."""
        tc = self.trainers[0].cfg.train
        if not tc.cuda_graph or self.graph is not None:
            return
        if any(ph.phase.every != 1 for ph in self.phases):
            if self.device.type == "cuda":
                log.info("train.cuda_graph: eager steps, a phase runs on every n-th batch only")
            return
        if self.device.type == "cuda":
            self.graph = _StackGraph(self)
            self.shared_draws = True

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.trainers[0].bf16:
            return contextlib.nullcontext()
        # no cast cache under a CUDA graph: a captured step must cast the weights it reads afresh
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=self.graph is None)

    def step(self, batches: list[Batch], labelled: list[Batch] | None = None) -> None:
        """One training step of every seed (``batches``: each seed's mini-batch of this step;
        ``labelled``: each seed's labelled mini-batch, where not that of this step)."""
        step = batches[0].step
        sources: dict[str, tuple[torch.Tensor, torch.Tensor | None, dict]] = {
            "all": self._stacked(batches) + ({},)}
        for ph in self.phases:
            if step % ph.phase.every:
                continue
            if ph.phase.source not in sources:  # each seed's labelled batch of this step
                lab = labelled if labelled is not None else [t.loader.labelled(step) for t in self.trainers]
                sources[ph.phase.source] = self._stacked(lab) + ({},)
            x, y, cache = sources[ph.phase.source]
            opt, clip = ph.optimizer, self.trainers[0].states[ph.index].grad_clip
            opt.zero_grad(set_to_none=True)
            with self.autocast():
                loss, extras, cache_out = self._losses(ph.phase, x, y, step, cache)
            cache.clear()
            cache.update(cache_out)
            params = opt.param_groups[0]["params"]
            loss.sum().backward(inputs=params)  # the seeds' losses are independent: each its own gradient
            if clip:
                self._clip(params, clip)
            opt.step()
            sums = self.sums[ph.index]
            for key, v in {"loss": loss.detach(), **extras}.items():
                v = v.detach().float()
                if key in sums:
                    sums[key].add_(v)
                else:
                    sums[key] = v.clone()
            self.counts[ph.index] += 1

    def _stacked(self, batches: list[Batch]) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = torch.stack([b.x for b in batches])
        y = None if batches[0].y is None else torch.stack([b.y for b in batches])
        return x, y

    def _losses(self, phase: Phase, x: torch.Tensor, y: torch.Tensor | None, step: int, cache: dict):
        """Every seed's loss (K,), logged values (each (K,)) and what the phase leaves in the batch's
        cache for later phases (each (K, ...)), as one batched computation."""
        stack = self

        def one(params, xk, yk, k, cache_k):
            batch = _SeedBatch(xk, yk, step, cache=dict(cache_k), stack=stack, ys=y, k=k)
            out = functional_call(stack.call, params, (phase.loss, batch))
            loss, extras = out if isinstance(out, tuple) else (out, {})
            return loss, extras, batch.cache

        params = {f"model.{n}": p for n, p in self.params.items()}
        ks = torch.arange(self.k, device=x.device)
        with warnings.catch_warnings():  # an op without a batching rule (the dimred model's pdist) loops
            warnings.filterwarnings("ignore", "There is a performance drop because we have not yet implemented")
            return vmap(one, in_dims=(0, 0, None if y is None else 0, 0, 0), randomness="same")(
                params, x, y, ks, cache)

    @staticmethod
    @torch.no_grad()
    def _clip(params: list[torch.Tensor], max_norm: float) -> None:
        """Each seed's gradient clipped to ``max_norm`` on its own (clip_grad_norm_ per seed)."""
        grads = [p.grad for p in params if p.grad is not None]
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads]).norm(dim=0)
        coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))


class _StackGraph(CapturedStep):
    """The stack's step over static (K, batch) index buffers; one CUDA graph on a GPU."""

    def __init__(self, stack: SeedStack, capture: bool = True) -> None:
        self.stack = stack
        super().__init__(stack.device, [ph.optimizer for ph in stack.phases],
                         (stack.k, stack.trainers[0].loader.batch_size),
                         any(ph.phase.source == "labelled" for ph in stack.phases), capture)

    def _step(self) -> None:
        s = self.stack
        batches = [t.loader.batch(self.idx[k]) for k, t in enumerate(s.trainers)]
        labelled = [t.loader.batch(self.labelled_idx[k]) for k, t in enumerate(s.trainers)] if self.labelled else None
        s.step(batches, labelled)

    def _counts(self) -> list[int]:
        return list(self.stack.counts)

    def _set_counts(self, counts: list[int]) -> None:
        self.stack.counts = list(counts)


def together(trainers: list[Trainer]) -> dict[str, Any]:
    """What each seed's provenance says of the others it trained with."""
    return {"trained_together": {"seeds": [t.cfg.seed for t in trainers],
                                 "note": "one process, one batched step for all; wall time shared"}}

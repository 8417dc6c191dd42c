"""One training step as one CUDA graph (aaekit.train.graph): what runs without a GPU.

The captured step is the trainer's step function over static index buffers, tensor learning rates
and in-place sums. On a CPU that step runs eagerly through the very same buffers (``capture`` is
off there), and must train exactly as the plain eager loop does."""

import pytest
import torch

from aaekit.data import load_splits
from aaekit.models import build_model
from aaekit.train import Trainer
from aaekit.train import trainer as trainer_module
from aaekit.train.graph import StepGraph, unsupported
from aaekit.train.trainer import cpu_has_bf16


def make(cfg):
    splits = load_splits(cfg.data, seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    return Trainer(build_model(cfg, splits.train.dim), cfg, splits.train, splits.val, cfg.run_dir)


def through_static_step(monkeypatch, cfg):
    """A run whose every step goes through StepGraph (as on a GPU, minus the capture)."""
    monkeypatch.setattr(trainer_module, "unsupported", lambda t: None)
    t = make(cfg)
    t.fit()
    monkeypatch.undo()
    assert isinstance(t.graph, StepGraph) and t.graph.graph is None
    return t


def same_run(a, b):
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    for s, r in zip(a.states, b.states, strict=True):
        for x, y in zip(s.optimizer.state.values(), r.optimizer.state.values(), strict=True):
            for k in x:
                assert torch.equal(torch.as_tensor(x[k]), torch.as_tensor(y[k]))
    assert [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in a.history] == [
        {k: v for k, v in h.items() if k != "epoch_time_s"} for h in b.history]


SGD_DROP = {"reconstruction": {"milestones": [2]}, "discriminator": {"milestones": [3]},
            "generator": {"milestones": [2]}}
ADAM = {p: {"name": "adam", "lr": 0.001, "milestones": [2]} for p in ("reconstruction", "discriminator", "generator")}


@pytest.mark.parametrize("prior,optim,precision", [
    ("mog", SGD_DROP, "fp32"),
    ("swissroll", ADAM, "fp32"),
    pytest.param("gaussian", SGD_DROP, "bf16",
                 marks=pytest.mark.skipif(not cpu_has_bf16(), reason="no native bf16 on this CPU")),
])
def test_the_step_through_static_buffers_trains_as_the_eager_loop(tiny, monkeypatch, prior, optim, precision):
    # 350 training images in batches of 20: 17 full batches through the static buffers, then one of 10
    # eagerly; every lr dropped within the run (filled into its tensor by the schedule)
    train = {"epochs": 4, "batch_size": 20, "precision": precision, "progress": False, "optim": optim,
             "grad_clip": 5.0}
    eager = make(tiny("eager", prior={"kind": prior}, train=train))
    eager.fit()
    static = through_static_step(monkeypatch, tiny("static", prior={"kind": prior}, train=train))
    same_run(eager, static)
    assert [h["lr_reconstruction"] for h in static.history] == [h["lr_reconstruction"] for h in eager.history]
    assert static.history[-1]["lr_reconstruction"] < static.history[0]["lr_reconstruction"]
    assert isinstance(static.states[0].optimizer.param_groups[0]["lr"], torch.Tensor)


def test_the_labelled_phase_through_static_buffers_trains_as_the_eager_loop(tiny, monkeypatch):
    from tests.test_semisupervised import semi

    eager = make(semi(tiny, "eager", epochs=2))
    eager.fit()
    static = through_static_step(monkeypatch, semi(tiny, "static", epochs=2))
    same_run(eager, static)
    assert "classification_loss" in static.history[-1]


def test_a_checkpoint_of_the_graph_path_resumes_eagerly_and_exactly(tiny, monkeypatch):
    train = {"epochs": 4, "batch_size": 20, "precision": "fp32", "progress": False, "optim": ADAM}
    straight = make(tiny("a", train=train))
    straight.fit()
    through_static_step(monkeypatch, tiny("b", train={**train, "epochs": 2}))
    state = torch.load(tiny("b").run_dir / "checkpoint.pt", weights_only=False)
    groups = [g for o in state["optimizers"].values() for g in o["param_groups"]]
    assert all(isinstance(g["lr"], float) and not g.get("capturable") for g in groups)
    resumed = make(tiny("b", train=train))  # eager: no GPU here
    resumed.fit(resume=True)
    same_run(straight, resumed)


def test_what_cannot_be_captured_says_why(tiny):
    on = {"cuda_graph": True, "device": "cpu", "batch_size": 20, "progress": False}
    t = make(tiny(train=on))
    assert unsupported(t) == "not on a CUDA device"
    assert make(tiny("default")).cfg.train.cuda_graph  # on by default (a no-op on a CPU)
    assert unsupported(make(tiny("off", train__cuda_graph=False))) == "train.cuda_graph is off"
    t.device = torch.device("cuda")  # what the trainer would see on a GPU
    assert unsupported(t) is None
    t.states[1].phase.every = 2
    assert unsupported(t) == "a phase runs on every n-th batch only"


def test_auto_precision_takes_bf16_on_a_gpu_only_where_each_step_is_one_graph(monkeypatch):
    # eager GPU steps at batch 100 wait on kernel launches: bf16's casts make them slower (issue 18)
    from aaekit.train.trainer import resolve_bf16

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cuda = torch.device("cuda")
    assert not resolve_bf16("auto", cuda) and resolve_bf16("auto", cuda, graph=True)
    assert resolve_bf16("bf16", cuda) and not resolve_bf16("fp32", cuda, graph=True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert not resolve_bf16("auto", cuda, graph=True)


def test_reduce_overhead_is_refused_in_one_line_naming_cuda_graph(tiny):
    from aaekit.config import ConfigError

    with pytest.raises(ConfigError, match="reduce-overhead is not offered.*train.cuda_graph: true"):
        tiny("ro", train={**tiny().train.__dict__, "compile": "reduce-overhead"})

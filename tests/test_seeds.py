"""Several seeds in one process as one batched computation (train.seeds, aaekit.train.seeds): each
seed's run equals that seed trained alone, to float tolerance (batched matrix products round
differently), and resumes as a run of its own."""

import json

import pytest
import torch
import yaml

from aaekit.config import ConfigError
from aaekit.run import train_run
from aaekit.train import CheckpointError, load_checkpoint

ADAM = {p: {"name": "adam", "lr": 0.002, "milestones": [2]} for p in ("reconstruction", "discriminator", "generator")}


def weights(run_dir):
    return load_checkpoint(run_dir / "checkpoint.pt", "cpu")


def assert_same_run(together, alone, atol):
    """Two run folders hold the same training: weights, optimizer state, logged rows, test metrics."""
    a, b = weights(together), weights(alone)
    assert a["epoch"] == b["epoch"] and a["step"] == b["step"]
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], atol=atol, rtol=0)
    for phase in a["optimizers"]:
        for p, q in zip(a["optimizers"][phase]["state"].values(), b["optimizers"][phase]["state"].values(),
                        strict=True):
            for key in p:
                torch.testing.assert_close(torch.as_tensor(p[key]), torch.as_tensor(q[key]), atol=atol, rtol=0)
    assert len(a["history"]) == len(b["history"])
    for r, s in zip(a["history"], b["history"], strict=True):
        assert r.keys() == s.keys()
        for key in r:
            if key != "epoch_time_s":
                assert r[key] == pytest.approx(s[key], abs=max(atol, 1e-6) * 100), key
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])  # the same draws, in the same order
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (together, alone))
    assert ma["seed"] == mb["seed"]
    assert {**ma["config"], "out_dir": None} == {**mb["config"], "out_dir": None}
    assert ma["metrics"]["recon_sse"] == pytest.approx(mb["metrics"]["recon_sse"], rel=1e-4)


@pytest.mark.parametrize("model,prior,train", [
    ({"kind": "aae", "input_noise": 0.3}, "gaussian",
     {"grad_clip": 0.5, "optim": {"reconstruction": {"milestones": [2]}}}),
    ({"kind": "aae"}, "swissroll", {"optim": ADAM}),
    ({"kind": "vae"}, "mog", {}),
    ({"kind": "aae", "posterior": "gaussian"}, "gaussian", {}),
])
def test_each_seed_trained_together_equals_that_seed_alone(tiny, model, prior, train):
    train = {"epochs": 3, **train}
    net = {"code_dim": 2, "encoder_hidden": [32, 32], "decoder_hidden": [32, 32], "discriminator_hidden": [32, 32],
           "init_std": 0.1}
    result = train_run(tiny("together", model={**net, **model}, prior={"kind": prior},
                            train={**tiny().train.__dict__, **train, "seeds": [3, 1, 2]}))
    assert [r["run_dir"].name for r in result["runs"]] == ["seed3", "seed1", "seed2"]
    for seed in (3, 1):
        train_run(tiny(f"alone{seed}", seed=seed, model={**net, **model}, prior={"kind": prior},
                       train={**tiny().train.__dict__, **train}))
        assert_same_run(result["runs"][[3, 1, 2].index(seed)]["run_dir"], tiny(f"alone{seed}").run_dir, atol=1e-5)
    # each folder is that seed's own run, as it would be alone: its config names its seed, no seeds
    saved = yaml.safe_load((result["runs"][0]["run_dir"] / "config.yaml").read_text())
    assert saved["seed"] == 3 and saved["train"]["seeds"] == []
    prov = json.loads((result["runs"][0]["run_dir"] / "metrics.json").read_text())["provenance"]
    assert prov["seed"] == 3 and prov["trained_together"]["seeds"] == [3, 1, 2]
    # the seeds differ: their own weights, not copies
    a, b = (weights(r["run_dir"])["model"] for r in result["runs"][:2])
    first = next(k for k in a if k.startswith("encoder."))
    assert not torch.allclose(a[first], b[first])


def test_semisupervised_seeds_together_each_with_its_own_labelled_images(tiny):
    from tests.test_semisupervised import semi

    cfg = semi(tiny, "together", epochs=2, labelled=20, seeds=[0, 1])
    cfg.model.labelled_shift = 1
    result = train_run(cfg)
    for seed in (0, 1):
        alone = semi(tiny, f"alone{seed}", epochs=2, labelled=20)
        alone.model.labelled_shift = 1
        alone.seed = seed
        train_run(alone)
        run = result["runs"][seed]["run_dir"]
        assert_same_run(run, alone.run_dir, atol=1e-5)
        assert result["runs"][seed]["metrics"]["test_error_pct"] == pytest.approx(
            json.loads((alone.run_dir / "metrics.json").read_text())["metrics"]["test_error_pct"])
    import numpy as np

    own = [np.load(r["run_dir"] / "labelled_indices.npy") for r in result["runs"]]
    assert not np.array_equal(own[0], own[1])


LABEL_MODELS = {
    "supervised_aae": ({"kind": "supervised_aae", "n_classes": 4}, {"kind": "gaussian"}, {}),
    "label_aae": ({"kind": "label_aae"}, {"kind": "mog", "n_components": 4}, {"labelled": 100}),
    "clustering_aae": ({"kind": "clustering_aae", "n_clusters": 5, "minibatch_adversary": True},
                       {"kind": "gaussian"}, {}),
    "clustering_aae_style_noise": ({"kind": "clustering_aae", "n_clusters": 5, "minibatch_adversary": True,
                                    "style_noise": 0.5}, {"kind": "gaussian"}, {}),
    "dimred_aae": ({"kind": "dimred_aae", "n_classes": 4, "head_margin": 1.0}, {"kind": "gaussian"}, {"labelled": 20}),
}


@pytest.mark.parametrize("kind", LABEL_MODELS)
def test_every_label_model_trains_together_as_alone(tiny, kind):
    model, prior, data = LABEL_MODELS[kind]
    over = {"model": {"code_dim": 2, "encoder_hidden": [32, 32], "decoder_hidden": [32, 32],
                      "discriminator_hidden": [16], "init_std": 0.1, **model},
            "prior": prior, "data": {"dataset": tiny().data.dataset, "val_size": 50, **data}}
    result = train_run(tiny("together", train={**tiny().train.__dict__, "seeds": [0, 1]}, **over))
    train_run(tiny("alone", seed=1, **over))
    assert_same_run(result["runs"][1]["run_dir"], tiny("alone").run_dir, atol=1e-5)


def test_seeds_together_resume_exactly_and_each_run_resumes_alone(tiny):
    seeds = {"seeds": [0, 1]}
    full = train_run(tiny("full", train={**tiny().train.__dict__, "epochs": 3, **seeds}))
    train_run(tiny("cut", train={**tiny().train.__dict__, "epochs": 1, **seeds}))
    resumed = train_run(tiny("cut", train={**tiny().train.__dict__, "epochs": 3, **seeds}), resume=True)
    for a, b in zip(full["runs"], resumed["runs"], strict=True):
        assert_same_run(a["run_dir"], b["run_dir"], atol=0)
    # a run the seeds made together goes on alone, and back
    alone = tiny("cut", seed=1, out_dir=str(tiny("cut").run_dir / "seed1"),
                 train={**tiny().train.__dict__, "epochs": 4})
    train_run(alone, resume=True)
    with pytest.raises(CheckpointError, match="different epochs.*seed0: 3, seed1: 4"):
        train_run(tiny("cut", train={**tiny().train.__dict__, "epochs": 5, **seeds}), resume=True)


def test_seeds_refused_where_they_cannot_train_together(tiny):
    with pytest.raises(ConfigError, match="train.seeds.*distinct"):
        train_run(tiny("dup", train={**tiny().train.__dict__, "seeds": [1, 1]}))
    with pytest.raises(ConfigError, match="train.seeds.*running statistics"):
        train_run(tiny("bn", model={"kind": "aae", "code_dim": 2, "nets": "conv", "batchnorm": True,
                                    "conv_channels": [4], "discriminator_hidden": [8]},
                       train={**tiny().train.__dict__, "seeds": [0, 1]}))
    assert not (tiny("bn").run_dir / "seed0" / "checkpoint.pt").exists()


def through_graph_buffers(monkeypatch, graph):
    """The stack as on a GPU under train.cuda_graph, minus the capture: every seed's draws from one
    shared stream, its steps (``graph``) through the graph's static index buffers and tensor lrs."""
    from aaekit.train import seeds as seeds_module

    def prepare(self):
        self.shared_draws = True
        if graph:
            self.graph = seeds_module._StackGraph(self, capture=False)

    steps = []
    inner = seeds_module._StackGraph._step
    monkeypatch.setattr(seeds_module.SeedStack, "prepare_graph", prepare)
    monkeypatch.setattr(seeds_module._StackGraph, "_step", lambda self: (steps.append(1), inner(self))[1])
    return steps


@pytest.mark.parametrize("kind", ["aae_adam_lr_drop", "semisupervised"])
def test_the_stack_through_its_graph_buffers_trains_as_the_eager_stack(tiny, monkeypatch, kind):
    def config(name, epochs=3):
        if kind == "semisupervised":  # a labelled phase: each seed's labelled rows through a buffer too
            from tests.test_semisupervised import semi

            return semi(tiny, name, epochs=epochs, labelled=20, seeds=[0, 1])
        return tiny(name, train={**tiny().train.__dict__, "epochs": epochs, "optim": ADAM, "seeds": [0, 1]})

    through_graph_buffers(monkeypatch, graph=False)
    eager = train_run(config("eager"))
    steps = through_graph_buffers(monkeypatch, graph=True)
    static = train_run(config("static"))
    total = weights(static["runs"][0]["run_dir"])["step"]  # every full batch through the buffers, a last smaller
    assert total - 3 <= len(steps) <= total and steps      # one (if any) eagerly
    for a, b in zip(eager["runs"], static["runs"], strict=True):
        assert_same_run(a["run_dir"], b["run_dir"], atol=0)
    # the shared stream is not the seeds' own: seed 1 no longer equals its run alone
    train_run(tiny("alone", seed=1, train={**tiny().train.__dict__, "epochs": 3, "optim": ADAM}))
    if kind != "semisupervised":
        assert not torch.equal(weights(static["runs"][1]["run_dir"])["rng"]["torch"],
                               weights(tiny("alone").run_dir)["rng"]["torch"])


def test_the_stack_through_its_graph_buffers_resumes_exactly(tiny, monkeypatch):
    through_graph_buffers(monkeypatch, graph=True)
    seeds = {"seeds": [0, 1], "optim": ADAM}
    full = train_run(tiny("full", train={**tiny().train.__dict__, "epochs": 3, **seeds}))
    train_run(tiny("cut", train={**tiny().train.__dict__, "epochs": 1, **seeds}))
    resumed = train_run(tiny("cut", train={**tiny().train.__dict__, "epochs": 3, **seeds}), resume=True)
    for a, b in zip(full["runs"], resumed["runs"], strict=True):
        assert_same_run(a["run_dir"], b["run_dir"], atol=0)

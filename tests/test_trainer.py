import math

import pytest
import torch

from aaekit.data import load_splits
from aaekit.models import build_model
from aaekit.nets import MLP
from aaekit.train import CheckpointError, Trainer, TrainingDiverged
from aaekit.train.trainer import cpu_has_bf16


def make(cfg):
    splits = load_splits(cfg.data)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, splits.train.dim)
    return Trainer(model, cfg, splits.train, splits.val, cfg.run_dir)


def params(trainer):
    return [p.detach().clone() for p in trainer.model.parameters()]


def test_losses_go_down_and_codes_move_to_the_prior(tiny):
    # the paper's SGD settings, on 300 tiny images
    cfg = tiny(train={"epochs": 15, "batch_size": 20, "precision": "fp32", "progress": False})
    t = make(cfg)
    before = t.model.evaluate(t.val_x)
    hist = t.fit()
    after = hist[-1]
    assert after["val_recon_sse"] < 0.5 * before["recon_sse"]
    assert hist[-1]["reconstruction_loss"] < hist[0]["reconstruction_loss"]
    # the generator pulls the code spread toward the prior's (std 1), from ~0 at init
    assert before["code_std"] < 0.2 and 0.5 < after["val_code_std"] < 2.0
    assert {"val_d_acc_prior", "val_d_acc_codes", "val_code_mean", "val_prior_std"} <= set(after)
    assert (cfg.run_dir / "log.csv").read_text().count("\n") == 16


def test_phases_run_in_order(tiny):
    t = make(tiny(train={"epochs": 1, "batch_size": 100, "precision": "fp32", "progress": False}))
    seen = []
    for s in t.states:
        inner = s.run
        s.run = lambda b, inner=inner, name=s.phase.name: (seen.append(name), inner(b))[1]
    t.fit()
    assert len(seen) == 3 * len(t.loader)
    assert seen[:6] == ["reconstruction", "discriminator", "generator"] * 2


def test_resume_is_bit_exact(tiny):
    straight = make(tiny("a", train={"epochs": 4, "batch_size": 20, "precision": "fp32", "progress": False}))
    straight.fit()
    half = make(tiny("b", train={"epochs": 2, "batch_size": 20, "precision": "fp32", "progress": False}))
    half.fit()
    resumed = make(tiny("b", train={"epochs": 4, "batch_size": 20, "precision": "fp32", "progress": False}))
    resumed.fit(resume=True)
    for p, q in zip(params(straight), params(resumed), strict=True):
        assert torch.equal(p, q)
    for s, r in zip(straight.states, resumed.states, strict=True):
        for a, b in zip(s.optimizer.state.values(), r.optimizer.state.values(), strict=True):
            assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    assert [h["reconstruction_loss"] for h in straight.history] == [
        h["reconstruction_loss"] for h in resumed.history]
    assert (straight.run_dir / "log.csv").read_text().count("\n") == 5
    assert (resumed.run_dir / "log.csv").read_text().count("\n") == 5


def test_checkpoint_is_atomic_and_safe(tiny):
    t = make(tiny())
    t.fit()
    files = sorted(p.name for p in t.run_dir.iterdir())
    assert "checkpoint.pt" in files and not any(f.endswith(".tmp") for f in files)
    state = torch.load(t.checkpoint_path, weights_only=True)
    assert state["epoch"] == 2 and state["kind"] == "aae"
    with pytest.raises(CheckpointError, match=r"holds a run \(checkpoint.pt\); pass --resume"):
        make(tiny()).fit()
    again = make(tiny(train={"epochs": 1, "batch_size": 20, "precision": "fp32", "progress": False}))
    again.fit(overwrite=True)  # starts over
    assert torch.load(t.checkpoint_path, weights_only=True)["epoch"] == 1


def test_resume_refuses_another_model(tiny):
    make(tiny()).fit()
    with pytest.raises(CheckpointError, match="holds a 'aae' model, the config asks for 'vae'"):
        make(tiny(model={"kind": "vae", "code_dim": 2, "encoder_hidden": [32, 32],
                         "decoder_hidden": [32, 32]})).fit(resume=True)
    with pytest.raises(CheckpointError, match=r"was made with model.code_dim=2, the config has 3"):
        make(tiny(model={"kind": "aae", "code_dim": 3, "encoder_hidden": [32, 32],
                         "decoder_hidden": [32, 32], "discriminator_hidden": [32, 32]})).fit(resume=True)


def test_foreign_and_damaged_checkpoints(tiny, tmp_path):
    t = make(tiny())
    t.run_dir.mkdir(parents=True)
    torch.save({"weights": torch.zeros(2)}, t.checkpoint_path)
    with pytest.raises(CheckpointError, match="is not an aaekit checkpoint"):
        t.fit(resume=True)
    t.checkpoint_path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot be read as an aaekit checkpoint") as e:
        t.fit(resume=True)
    assert "\n" not in str(e.value)


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tiny):
    t = make(tiny(train={"epochs": 4, "batch_size": 20, "precision": "fp32", "progress": False,
                         "log_every": 3}))
    rec = t.states[0]
    inner = rec.run

    def poisoned(batch):
        loss = inner(batch)
        return loss * math.nan if t.epoch == 2 else loss

    rec.run = poisoned
    with pytest.raises(TrainingDiverged, match=r"epoch 3: the reconstruction loss became nan; "
                                               r"the last good checkpoint \(epoch 2\) is kept") as e:
        t.fit()
    assert "\n" not in str(e.value)
    state = torch.load(t.checkpoint_path, weights_only=True)
    assert state["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_unknown_phase_in_optim_config(tiny):
    from aaekit.config import ConfigError

    with pytest.raises(ConfigError, match="names phase 'recon', but the aae model's phases are"):
        make(tiny(train={"optim": {"recon": {"lr": 0.1}}}))


def test_adam_and_schedule(tiny):
    t = make(tiny(train={"epochs": 3, "batch_size": 20, "precision": "fp32", "progress": False, "optim": {
        "reconstruction": {"name": "adam", "lr": 0.001, "milestones": [2]}}}))
    assert isinstance(t.states[0].optimizer, torch.optim.Adam)
    hist = t.fit()
    assert [h["lr_reconstruction"] for h in hist] == pytest.approx([0.001, 0.001, 0.0001])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_learn(tiny, precision):
    if precision == "bf16" and not cpu_has_bf16():
        pytest.skip("this CPU has no native bf16")
    t = make(tiny(train={"epochs": 8, "batch_size": 20, "precision": precision, "progress": False}))
    assert t.bf16 == (precision == "bf16")
    before = t.model.evaluate(t.val_x)["recon_sse"]
    hist = t.fit()
    assert hist[-1]["val_recon_sse"] < 0.8 * before
    assert all(p.dtype == torch.float32 for p in t.model.parameters())  # fp32 master weights


def test_tensorboard_log(tiny):
    pytest.importorskip("tensorboard")
    t = make(tiny(train={"epochs": 1, "batch_size": 50, "precision": "fp32", "progress": False,
                         "tensorboard": True}))
    t.fit()
    assert list((t.run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_per_phase_grad_clip_bounds_the_step(tiny):
    t = make(tiny(train={"epochs": 1, "batch_size": 300, "precision": "fp32", "progress": False,
                         "optim": {"discriminator": {"grad_clip": 1e-3}}}))
    before = torch.cat([p.detach().flatten().clone() for p in t.model.discriminator.parameters()])
    t.fit()  # one batch: one SGD step of lr 0.1 on the clipped gradient
    after = torch.cat([p.detach().flatten() for p in t.model.discriminator.parameters()])
    assert 0 < (after - before).norm() <= 0.1 * 1e-3 * 1.001


def test_resume_without_checkpoint_starts_a_new_run(tiny):
    t = make(tiny(train={"epochs": 1, "batch_size": 50, "precision": "fp32", "progress": False}))
    t.fit(resume=True)
    assert t.epoch == 1 and t.checkpoint_path.is_file()


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_fast_path_learns_what_fp32_learns(tiny):
    # the same seed, data order and epochs in fp32 and in the fast path (bf16 autocast, fp32
    # weights): the held-out measures end close, and both far from where they started
    ends = {}
    for prec in ("fp32", "bf16"):
        t = make(tiny(prec, train={"epochs": 12, "batch_size": 20, "precision": prec, "progress": False}))
        start = t.model.evaluate(t.val_x)
        ends[prec] = t.fit()[-1]
        assert ends[prec]["val_recon_sse"] < 0.5 * start["recon_sse"]
    a, b = ends["fp32"], ends["bf16"]
    assert abs(a["val_recon_sse"] - b["val_recon_sse"]) < 0.1 * a["val_recon_sse"]
    assert abs(a["val_code_std"] - b["val_code_std"]) < 0.15 * a["val_code_std"]
    assert abs(a["val_code_mean"] - b["val_code_mean"]) < 0.2
    for k in ("val_d_acc_prior", "val_d_acc_codes"):
        assert abs(a[k] - b[k]) < 0.15, k


def test_compiled_nets_learn_what_eager_nets_learn(tiny):
    # train.compile: torch.compile'd nets (here on CPU)
    # follow the eager run's course, and the checkpoint keeps the eager names
    runs = {}
    for mode in ("none", "default"):
        t = make(tiny(mode, train={"epochs": 2, "batch_size": 20, "precision": "fp32", "progress": False,
                                   "compile": mode}))
        runs[mode] = t.fit()[-1], params(t), t.model.state_dict().keys()
        # each net is compiled in place (nn.Module.compile), or left eager
        nets = [m for m in t.model.modules() if isinstance(m, MLP)]
        assert len(nets) == 3 and all((net._compiled_call_impl is not None) == (mode != "none") for net in nets)
    (eager, p0, k0), (compiled, p1, k1) = runs["none"], runs["default"]
    assert k0 == k1
    for a, b in zip(p0, p1, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    assert abs(eager["val_recon_sse"] - compiled["val_recon_sse"]) < 1e-3 * eager["val_recon_sse"]


def test_val_every_fills_the_val_columns_at_its_epochs_and_leaves_the_others_empty(tiny):
    import csv

    cfg = tiny(train={"epochs": 5, "batch_size": 20, "precision": "fp32", "progress": False, "val_every": 3})
    t = make(cfg)
    calls = []
    inner = t.model.evaluate
    t.model.evaluate = lambda *a, **k: (calls.append(t.epoch + 1), inner(*a, **k))[1]
    t.fit()
    assert calls == [1, 3, 5]  # the first, every 3rd, the last
    with open(cfg.run_dir / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5"]
    for r in rows:  # one header for all rows: the training columns stay in place
        assert float(r["reconstruction_loss"]) > 0 and float(r["epoch_time_s"]) > 0
        assert (r["val_recon_sse"] != "") == (r["epoch"] in {"1", "3", "5"})
    assert t.history[-1]["val_recon_sse"] > 0  # the run's metrics.json reads the last row


def test_checkpoint_every_saves_at_its_epochs_and_a_stopped_run_resumes_from_the_latest(tiny):
    train = {"epochs": 5, "batch_size": 20, "precision": "fp32", "progress": False, "checkpoint_every": 2}
    straight = make(tiny("a", train=train))
    saved = []
    inner_save = straight.save
    straight.save = lambda: (saved.append(straight.epoch), inner_save())[1]
    straight.fit()
    assert saved == [2, 4, 5]  # every 2nd and the last

    stopped = make(tiny("b", train=train))
    inner_epoch = stopped._train_epoch

    def stop_in_epoch_4():
        if stopped.epoch == 3:
            raise KeyboardInterrupt
        return inner_epoch()

    stopped._train_epoch = stop_in_epoch_4
    with pytest.raises(KeyboardInterrupt):
        stopped.fit()
    assert torch.load(stopped.checkpoint_path, weights_only=True)["epoch"] == 2
    assert (stopped.run_dir / "log.csv").read_text().count("\n") == 4  # epoch 3 logged, not saved
    resumed = make(tiny("b", train=train))
    resumed.fit(resume=True)  # from epoch 2: epoch 3 again, then 4 and 5
    for p, q in zip(params(straight), params(resumed), strict=True):
        assert torch.equal(p, q)
    assert [h["reconstruction_loss"] for h in straight.history] == [h["reconstruction_loss"] for h in resumed.history]
    assert (resumed.run_dir / "log.csv").read_text().count("\n") == 6

"""The semi-supervised AAE (paper Sec. 5): its labelled stream, its two adversaries, its phases."""

import json

import numpy as np
import pytest
import torch

from aaekit.data import ArrayDataset, BatchLoader, load_splits
from aaekit.data.loader import Batch
from aaekit.models import SemiSupervisedAAE, build_model
from aaekit.models.adversary import Adversary
from aaekit.priors import Categorical, Gaussian, Joint
from aaekit.run import train_run
from aaekit.train import Trainer


def semi(tiny, out="run", epochs=3, labelled=20, **train):
    return tiny(out, model={"kind": "semisupervised_aae", "code_dim": 3, "n_classes": 4, "encoder_hidden": [32, 32],
                            "decoder_hidden": [32, 32], "discriminator_hidden": [16], "init_std": 0.1,
                            "input_noise": 0.3},
                data={"dataset": tiny().data.dataset, "val_size": 50, "labelled": labelled},
                train={"epochs": epochs, "batch_size": 20, "precision": "fp32", "progress": False, "device": "cpu",
                       **train})


def make(cfg):
    splits = load_splits(cfg.data, seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    return Trainer(build_model(cfg, splits.train.dim), cfg, splits.train, splits.val, cfg.run_dir)


def test_labelled_stream_draws_each_labelled_image_once_per_pass_from_seed_and_step():
    y = torch.full((200,), -1)
    labelled = torch.tensor([3, 17, 40, 41, 99, 120, 150])
    y[labelled] = torch.arange(7) % 3
    data = ArrayDataset(torch.arange(200).unsqueeze(1).to(torch.uint8), y, (1,))
    loader = BatchLoader(data, batch_size=3, seed=5)
    drawn = torch.cat([loader.labelled(s).x.squeeze(1).mul(255).round().long() for s in range(7)])
    assert len(drawn) == 21 and sorted(drawn.tolist()) == sorted(labelled.tolist() * 3)  # 3 passes of 7
    assert sorted(drawn[:7].tolist()) == sorted(labelled.tolist())  # one pass: each image once
    assert (loader.labelled(4).y >= 0).all()
    again = BatchLoader(data, batch_size=3, seed=5)  # a fresh loader (a resumed run) at step 4
    assert torch.equal(again.labelled(4).x, loader.labelled(4).x)
    other = BatchLoader(data, batch_size=3, seed=6)
    assert not all(torch.equal(other.labelled(s).x, loader.labelled(s).x) for s in range(7))


def test_resume_with_the_labelled_phase_is_bit_exact(tiny):
    straight = make(semi(tiny, "a", epochs=4))
    straight.fit()
    half = make(semi(tiny, "b", epochs=2))
    half.fit()
    resumed = make(semi(tiny, "b", epochs=4))
    resumed.fit(resume=True)
    for p, q in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert [h["classification_loss"] for h in straight.history] == [h["classification_loss"] for h in resumed.history]


def test_categorical_draws_are_one_hot_and_the_joint_prior_puts_them_first():
    c = Categorical(10).sample(5000)
    assert ((c == 0) | (c == 1)).all() and (c.sum(1) == 1).all()
    assert c.mean(0).sub(0.1).abs().max() < 0.02  # uniform over the classes
    j = Joint(Categorical(10), Gaussian(4)).sample(20000)
    assert j.shape == (20000, 14) and (j[:, :10].sum(1) == 1).all()
    assert j[:, 10:].mean(0).abs().max() < 0.05 and j[:, 10:].std(0).sub(1).abs().max() < 0.05


def _trained_adversary(prior, codes, steps=300):
    torch.manual_seed(0)
    adv = Adversary(prior, [64], init_std=None)
    opt = torch.optim.Adam(adv.parameters(), 1e-2)
    for _ in range(steps):
        opt.zero_grad()
        adv.discriminator_loss(codes, prior.sample(len(codes)))[0].backward()
        opt.step()
    return adv


def test_the_class_adversary_pushes_y_toward_one_hot():
    torch.manual_seed(1)
    logits = (0.3 * torch.randn(500, 10)).requires_grad_()
    adv = _trained_adversary(Categorical(10), torch.softmax(logits, 1).detach())
    before = torch.softmax(logits, 1).max(1).values.mean()
    opt = torch.optim.SGD([logits], lr=1.0)
    for _ in range(20):  # the encoder's side: only the codes move
        opt.zero_grad()
        (len(logits) * adv.generator_loss(torch.softmax(logits, 1))).backward()  # per-code steps
        opt.step()
    after = torch.softmax(logits, 1).max(1).values.mean()
    assert before < 0.2 and after > before + 0.1  # sharper: nearer a one-hot vector


def test_the_style_adversary_pushes_z_toward_the_gaussian():
    torch.manual_seed(2)
    z = (3 + 0.5 * torch.randn(500, 2)).requires_grad_()
    adv = _trained_adversary(Gaussian(2), z.detach())
    opt = torch.optim.SGD([z], lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        (len(z) * adv.generator_loss(z)).backward()
        opt.step()
    assert z.detach().mean(0).norm() < 3 * 2**0.5 - 0.5  # moved toward the prior's mean 0


def test_classification_phase_updates_only_the_encoder(tiny):
    t = make(semi(tiny, epochs=1))
    model = t.model
    (cls,) = [s for s in t.states if s.phase.name == "classification"]
    assert cls.phase.source == "labelled" and set(cls.phase.params) == set(model.encoder.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cls.optimizer.zero_grad()
    loss, _ = cls.run(t.loader.labelled(0))
    loss.backward(inputs=cls.phase.params)
    cls.optimizer.step()
    after = model.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"encoder"}
    assert [s.phase.name for s in t.states] == ["reconstruction", "discriminator", "generator", "classification"]


def test_semisupervised_run_learns_and_writes_its_predictions(tiny):
    result = train_run(semi(tiny, epochs=6))
    out, m = result["run_dir"], result["metrics"]
    doc = json.loads((out / "metrics.json").read_text())
    assert m["n_labelled"] == 20 and m["test_error_pct"] < 20 and m["val_error_pct"] < 20
    preds = np.load(out / "test_predictions.npy")
    splits = load_splits(semi(tiny).data)
    assert 100 * (preds != splits.test.y.numpy()).mean() == pytest.approx(doc["metrics"]["test_error_pct"])
    val = np.load(out / "val_predictions.npy")
    assert 100 * (val != splits.val.y.numpy()).mean() == pytest.approx(doc["metrics"]["val_error_pct"])
    idx = np.load(out / "labelled_indices.npy")
    assert len(idx) == 20 and len(set(idx.tolist())) == 20
    assert (out / "confusion.png").is_file() and (out / "style.png").is_file()
    rows = (out / "log.csv").read_text().splitlines()
    assert "val_error_pct" in rows[0] and "classification_loss" in rows[0] and len(rows) == 7


def test_semisupervised_needs_labels(tiny):
    from aaekit.config import ConfigError

    with pytest.raises(ConfigError, match="style prior is gaussian"):
        tiny(model={"kind": "semisupervised_aae"}, prior={"kind": "mog"})
    assert isinstance(build_model(semi(tiny), 64), SemiSupervisedAAE)


def test_classifier_only_baseline_trains_the_class_head_alone(tiny):
    cfg = semi(tiny, epochs=3)
    cfg.model.classifier_only = True
    t = make(cfg)
    assert [s.phase.name for s in t.states] == ["classification"]
    decoder = [p.clone() for p in t.model.decoder.parameters()]
    t.fit()
    assert all(torch.equal(a, b) for a, b in zip(decoder, t.model.decoder.parameters(), strict=True))
    assert t.history[-1]["val_error_pct"] < 30
    with pytest.raises(Exception, match="only the semisupervised_aae has it"):
        tiny(model={"kind": "aae", "classifier_only": True})


def test_style_grid_puts_each_style_with_every_class(tiny):
    model = build_model(semi(tiny), 64)
    x = torch.rand(3, 64)
    grid = model.style_grid(x)
    assert grid.shape == (3 * 5, 64) and torch.equal(grid[0], x[0]) and torch.equal(grid[5], x[1])
    assert not torch.equal(grid[1], grid[2])  # one style, two classes: two images


def test_style_adversary_that_sees_the_class(tiny):
    """model.adversary_sees_label: the style's discriminator judges [z, q(y | x)], and the encoder's
    class head gets no gradient through that side input (it may change the style, not the class)."""
    cfg = semi(tiny, epochs=2)
    cfg.model.adversary_sees_label = True
    model = build_model(cfg, 64)
    assert model.adversaries["z"].net[0].in_features == 3 + 4 and model.adversaries["y"].net[0].in_features == 4
    x = torch.rand(8, 64)
    logits, z = model.heads(x)
    y = torch.softmax(logits, 1)
    (g,) = torch.autograd.grad(model.adversaries["z"].generator_loss(z, model._style_side(y)), logits,
                               allow_unused=True)
    assert g is None  # the class head is untouched by the style's adversary
    t = make(cfg)
    t.fit()
    assert 0 <= t.history[-1]["val_error_pct"] <= 100 and "val_d_acc_codes_z" in t.history[-1]


def test_labelled_shift_moves_each_labelled_image_by_at_most_k_pixels(tiny):
    """model.labelled_shift: each labelled image of the classification phase is translated by its own
    whole number of pixels in [-k, k] along each axis, zeros moved in, drawn from the seeded RNG."""
    cfg = semi(tiny)
    cfg.model.labelled_shift = 2
    model = build_model(cfg, 64)  # 8 x 8 images
    x = torch.zeros(400, 64)
    x[:, 3 * 8 + 4] = 1  # one lit pixel at row 3, column 4
    torch.manual_seed(0)
    out = model.shifted(Batch(x, torch.zeros(400, dtype=torch.long)), 2)
    lit = out.reshape(400, 8, 8).nonzero()
    assert len(lit) == 400 and torch.equal(lit[:, 0], torch.arange(400))  # each image keeps its one pixel
    moves = {(r - 3, c - 4) for r, c in lit[:, 1:].tolist()}
    assert moves == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}  # every shift in [-2, 2]^2, no other
    torch.manual_seed(0)
    assert torch.equal(model.shifted(Batch(x, torch.zeros(400, dtype=torch.long)), 2), out)
    t = make(cfg)
    t.fit()
    assert t.history[-1]["val_error_pct"] < 60
    with pytest.raises(Exception, match="only the semisupervised_aae and dimred_aae have it"):
        tiny(model={"kind": "aae", "labelled_shift": 1})
    with pytest.raises(Exception, match="these data are flat, 60 values each"):
        build_model(cfg, 60)
    wide = build_model(cfg, 48, (4, 12))  # non-square images shift too
    one = torch.zeros(1, 48)
    one[0, 1 * 12 + 5] = 1
    torch.manual_seed(1)
    moved = wide.shifted(Batch(one, torch.zeros(1, dtype=torch.long)), 2).reshape(4, 12).nonzero()
    assert len(moved) == 1 and abs(moved[0, 0] - 1) <= 2 and abs(moved[0, 1] - 5) <= 2

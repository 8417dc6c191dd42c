import pytest
import torch
import torch.nn.functional as F

from aaekit.config import ConfigError
from aaekit.data import ArrayDataset, load_splits
from aaekit.data.loader import Batch
from aaekit.data.mnist import DataError
from aaekit.models import LabelPriorAAE, build_model
from aaekit.models.supervised import label_slots
from aaekit.priors import Gaussian, MixtureOfGaussians, SwissRoll
from aaekit.run import train_run


def test_label_slots_put_unlabelled_in_the_extra_slot():
    slots = label_slots(torch.tensor([0, 3, -1, 9]), 10)
    assert slots.shape == (4, 11)
    assert slots.argmax(1).tolist() == [0, 3, 10, 9] and (slots.sum(1) == 1).all()
    none = label_slots(None, 10, n=5)
    assert none.shape == (5, 11) and (none[:, 10] == 1).all()
    with pytest.raises(ValueError, match="no label"):
        label_slots(torch.tensor([10]), 10)
    with pytest.raises(ValueError, match="no label"):
        label_slots(torch.tensor([-2]), 10)


@pytest.mark.parametrize("prior", [MixtureOfGaussians(), SwissRoll()])
def test_label_prior_samples_labelled_from_their_component_and_unlabelled_from_all(prior):
    torch.manual_seed(0)
    model = LabelPriorAAE(16, 2, prior, encoder_hidden=[8], decoder_hidden=[8], discriminator_hidden=[8])
    assert model.discriminator[0].in_features == 2 + 11
    y = torch.arange(10).repeat(500)
    real, slots = model.prior_pairs(y, len(y), "cpu")
    assert (prior.assign(real) == y).float().mean() > 0.95
    assert torch.equal(slots.argmax(1), y)
    unlabelled = torch.full((5000,), -1)
    real, slots = model.prior_pairs(unlabelled, 5000, "cpu")
    share = torch.bincount(prior.assign(real), minlength=10).float() / 5000
    assert (share - 0.1).abs().max() < 0.03 and (slots[:, 10] == 1).all()


def test_label_prior_aae_needs_a_prior_with_components():
    with pytest.raises(ConfigError, match="one component per class"):
        LabelPriorAAE(16, 2, Gaussian(2))


def test_hide_labels_keeps_a_balanced_seeded_subset():
    y = torch.arange(4).repeat(50)
    data = ArrayDataset(torch.zeros(200, 3), y, (3,))
    from aaekit.data import hide_labels

    kept = hide_labels(data, 10, seed=1)
    known = kept.y >= 0
    assert int(known.sum()) == 10 and set(kept.y.unique().tolist()) == {-1, 0, 1, 2, 3}
    assert sorted(torch.bincount(kept.y[known]).tolist()) == [2, 2, 3, 3]
    assert torch.equal(kept.y[known], y[known])  # kept labels are the true ones
    assert torch.equal(hide_labels(data, 10, seed=1).y, kept.y)
    assert not torch.equal(hide_labels(data, 10, seed=2).y, kept.y)
    with pytest.raises(DataError, match="exceeds"):
        hide_labels(data, 201, seed=0)


def test_labelled_subset_follows_the_run_seed(tiny):
    cfg = tiny(data__labelled=40)
    a, b = load_splits(cfg.data, seed=0).train.y, load_splits(cfg.data, seed=1).train.y
    assert int((a >= 0).sum()) == 40 == int((b >= 0).sum()) and not torch.equal(a, b)


def test_supervised_decoder_changes_digit_when_only_the_label_changes(tiny, tmp_path):
    """Trained on 4 prototype 'digits', the decoder draws class k's prototype for label k from any
    style code: the label, not the code, decides the digit."""
    cfg = tiny(model__kind="supervised_aae", model__code_dim=2, model__n_classes=4,
               train__epochs=25, train__optim={"reconstruction": {"name": "adam", "lr": 0.003}})
    result = train_run(cfg)
    from aaekit.run import load_run

    model, _, _ = load_run(result["run_dir"], "cpu")
    splits = load_splits(cfg.data)
    x, y = splits.train.floats(), splits.train.y
    prototypes = torch.stack([x[y == k].mean(0) for k in range(4)])
    z = model.encode(splits.test.floats()[:50])
    for k in range(4):
        drawn = model.decode(z, torch.full((50,), k))
        nearest = torch.cdist(drawn, prototypes).argmin(1)
        assert (nearest == k).float().mean() > 0.9, k
    m = result["metrics"]
    assert 0 <= m["style_label_accuracy"] <= 1 and (result["run_dir"] / "style.png").is_file()
    with pytest.raises(ValueError, match="needs the labels"):
        model.decode(z)


def test_supervised_aae_refuses_unlabelled_images(tiny):
    with pytest.raises(ConfigError, match="needs every training label"):
        tiny(model__kind="supervised_aae", data__labelled=20)
    model = build_model(tiny(model__kind="supervised_aae", model__n_classes=4), 64)
    with pytest.raises(ValueError, match="every image labelled"):
        model.reconstruction_loss(Batch(torch.rand(3, 64), torch.tensor([0, -1, 2])))


def test_label_aae_trains_and_reports_component_accuracy(tiny):
    cfg = tiny(model__kind="label_aae", prior__kind="mog", data__labelled=100, train__epochs=3)
    trainer_model = build_model(cfg, 64)
    assert isinstance(trainer_model, LabelPriorAAE)
    result = train_run(cfg)
    m = result["metrics"]
    assert 0 <= m["component_accuracy"] <= 1 and "d_acc_prior" in m
    assert (result["run_dir"] / "walks.png").is_file() and (result["run_dir"] / "codes.png").is_file()


def test_label_adversary_pulls_each_code_toward_its_own_component():
    """A discriminator taught that class k's real codes lie in component k gives the encoder (the
    generator step) a gradient that moves each labelled code toward its own label's component."""
    torch.manual_seed(0)
    prior = MixtureOfGaussians()
    model = LabelPriorAAE(16, 2, prior, encoder_hidden=[8], decoder_hidden=[8], discriminator_hidden=[64, 64],
                          init_std=None)
    y = torch.arange(10).repeat(20)
    fake = torch.randn(200, 2) * 0.3  # codes near the origin, away from every component
    opt = torch.optim.Adam(model.discriminator.parameters(), 1e-2)
    for _ in range(300):
        real, side = model.prior_pairs(y, 200, "cpu")
        logits = model.judge(torch.cat([real, fake]), torch.cat([side, side]))
        target = torch.cat([torch.ones(200), torch.zeros(200)])
        loss = F.binary_cross_entropy_with_logits(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = fake.clone().requires_grad_()
    logits = model.judge(z, model.side_input(y, 200, "cpu"))
    F.binary_cross_entropy_with_logits(logits, torch.ones(200)).backward()
    toward = prior.means[y] - fake
    assert (F.cosine_similarity(-z.grad, toward) > 0.5).float().mean() > 0.9


def test_style_label_probe_reads_labels_only_where_the_codes_hold_them(tiny):
    model = build_model(tiny(model__kind="supervised_aae", model__code_dim=4, model__n_classes=4), 64)
    g = torch.Generator().manual_seed(0)
    y = torch.randint(4, (2000,), generator=g)
    x = torch.rand(2000, 64, generator=g)
    leaky = F.one_hot(y, 4).float() + 0.3 * torch.randn(2000, 4, generator=g)
    clean = torch.randn(2000, 4, generator=g)
    assert model.extra_diagnostics(x, leaky, y)["style_label_probe"] > 0.95
    assert abs(model.extra_diagnostics(x, clean, y)["style_label_probe"] - 0.25) < 0.06
    assert "style_label_probe" not in model.extra_diagnostics(x, clean, None)


def _fit_discriminator(model, codes, y, steps=300):
    """Trains ``model``'s discriminator on prior samples ("real") against fixed ``codes``; returns
    its accuracy on fresh prior samples and on the codes."""
    opt = torch.optim.Adam(model.discriminator.parameters(), 1e-2)
    n = len(codes)
    for _ in range(steps):
        real, side = model.prior_pairs(y, n, "cpu")
        sides = None if side is None else torch.cat([side, side])
        logits = model.judge(torch.cat([real, codes]), sides)
        loss = F.binary_cross_entropy_with_logits(logits, torch.cat([torch.ones(n), torch.zeros(n)]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real, side = model.prior_pairs(y, n, "cpu")
        return ((model.judge(real, side) > 0).float().mean().item()
                + (model.judge(codes, model.side_input(y, n, "cpu")) < 0).float().mean().item()) / 2


def test_adversary_that_sees_the_label_catches_a_style_that_holds_it():
    """Codes whose mixture over classes is exactly the N(0, 1) prior but which hold the label (class
    0 positive, class 1 negative): the paper's discriminator cannot tell them from prior samples,
    the one that sees the label can, and its gradient moves each class's codes across zero."""
    torch.manual_seed(0)
    y = torch.arange(2).repeat(500)
    codes = torch.randn(1000, 1).abs() * torch.where(y == 0, 1.0, -1.0)[:, None]
    sizes = dict(encoder_hidden=[8], decoder_hidden=[8], discriminator_hidden=[64, 64], init_std=None)
    blind = build_model_from(Gaussian(1), n_classes=2, **sizes)
    seeing = build_model_from(Gaussian(1), n_classes=2, adversary_sees_label=True, **sizes)
    assert blind.discriminator[0].in_features == 1 and seeing.discriminator[0].in_features == 1 + 2
    # best possible accuracies: 0.5 blind; 0.75 seeing (a prior sample of the "wrong" sign is sure
    # to be real, one of the right sign is twice as likely a code)
    assert _fit_discriminator(blind, codes, y) < 0.6
    assert _fit_discriminator(seeing, codes, y) > 0.7
    z = codes.clone().requires_grad_()
    logits = seeing.judge(z, seeing.side_input(y, len(y), "cpu"))
    F.binary_cross_entropy_with_logits(logits, torch.ones(len(y))).backward()
    # the generator's step (-grad) moves class 0 down and class 1 up on the whole: toward the half of
    # the prior that class lacks (inside a half the density ratio, and so the gradient, is flat)
    step = -z.grad[:, 0]
    assert step[y == 0].sum() < 0 < step[y == 1].sum()


def build_model_from(prior, **kwargs):
    from aaekit.models import SupervisedAAE

    return SupervisedAAE(16, prior.dim, prior, **kwargs)


def test_adversary_sees_label_is_a_supervised_aae_option(tiny):
    with pytest.raises(ConfigError, match="only the supervised_aae, the semisupervised_aae and the clustering_aae"):
        tiny(model__adversary_sees_label=True)
    model = build_model(tiny(model__kind="supervised_aae", model__n_classes=4, model__adversary_sees_label=True), 64)
    real, side = model.prior_pairs(torch.tensor([3, 0]), 2, "cpu")
    assert real.shape == (2, 2) and side.tolist() == [[0, 0, 0, 1], [1, 0, 0, 0]]
    with pytest.raises(ValueError, match="every image labelled"):
        model.side_input(torch.tensor([1, -1]), 2, "cpu")

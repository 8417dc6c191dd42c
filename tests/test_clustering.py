"""The unsupervised clustering AAE (paper Sec. 6) and its measures."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aaekit.config import ConfigError
from aaekit.data import load_splits
from aaekit.data.loader import Batch
from aaekit.metrics.clustering import cluster_metrics, head_labels, log_odds, majority_labels
from aaekit.models import ClusteringAAE, build_model
from aaekit.models.adversary import Adversary
from aaekit.priors import Categorical
from aaekit.run import train_run
from aaekit.train import Trainer


def one_hot_logits(assign, k, confident=()):
    """Logits whose softmax puts 0.9 on each image's cluster; images in ``confident`` get 0.99 (the heads)."""
    q = np.full((len(assign), k), 0.1 / (k - 1))
    q[np.arange(len(assign)), assign] = 0.9
    for i in confident:
        q[i] = 0.01 / (k - 1)
        q[i, assign[i]] = 0.99
    return np.log(q)


def test_a_perfect_clustering_scores_zero_error_and_full_agreement():
    y = np.repeat(np.arange(4), 10)
    assign = np.array([2, 0, 3, 1])[y]  # any relabelling of the clusters is perfect
    m = cluster_metrics(one_hot_logits(assign, 4), y, assign, y)
    assert m["cluster_error_pct"] == 0 and m["cluster_acc_majority_pct"] == 100
    assert m["nmi"] == pytest.approx(1) and m["ari"] == pytest.approx(1)
    assert m["cluster_sizes"] == [10, 10, 10, 10] and m["empty_clusters"] == 0


def test_a_clustering_that_merges_two_digits_loses_one_of_them():
    y = np.repeat(np.arange(4), 10)
    assign = np.array([0, 1, 2, 2])[y]  # digits 2 and 3 share cluster 2; cluster 3 stays empty
    # cluster 2's most confident validation image is a 3: every image of cluster 2 is called 3
    logits = one_hot_logits(assign, 4, confident=[35])
    assert head_labels(logits, y)[2] == 3
    m = cluster_metrics(logits, y, assign, y)
    assert m["cluster_error_pct"] == pytest.approx(25)  # the ten 2s, of 40
    assert m["cluster_acc_majority_pct"] == pytest.approx(75)  # majority of a 10-10 tie: one digit of the two
    assert m["empty_clusters"] == 1 and m["cluster_sizes"] == [10, 10, 20, 0]
    assert 0 < m["nmi"] < 1 and 0 < m["ari"] < 1


def test_a_cluster_empty_on_validation_counts_as_wrong_under_the_majority_map():
    y_val = np.array([0, 0, 1, 1])
    assert majority_labels(np.array([0, 0, 1, 1]), y_val, 3).tolist() == [0, 1, -1]
    logits_val = one_hot_logits(np.array([0, 0, 1, 1]), 3)
    logits_val[0, 2] = logits_val[0, 0] - 0.5  # no image falls in cluster 2; the one most sure of it is a 0
    assign_test, y_test = np.array([0, 1, 2, 2]), np.array([0, 1, 0, 1])
    m = cluster_metrics(logits_val, y_val, assign_test, y_test)
    assert m["cluster_acc_majority_pct"] == 50  # the two test images of cluster 2 count as wrong
    assert m["cluster_error_pct"] == 25  # the paper's metric names cluster 2 after its head: one of two right


def test_the_head_is_the_surest_image_where_a_float32_softmax_ties():
    """Trained heads are sure of many images at once: their float32 softmax is exactly 1.0 for each,
    and its argmax would take the first of them; the log-odds rank them as q(y | x) does in exact
    arithmetic, so the cluster takes the label of the image with the widest margin."""
    logits = np.array([[30.0, 0.0, 0.0], [45.0, 0.0, 0.0], [0.0, 20.0, 0.0], [0.0, 0.0, 20.0]], np.float32)
    y = np.array([5, 3, 1, 2])
    q32 = torch.softmax(torch.from_numpy(logits), 1).numpy()
    assert q32[0, 0] == q32[1, 0] == 1.0 and y[q32.argmax(0)][0] == 5  # the tie, and what it would pick
    assert head_labels(logits, y).tolist() == [3, 1, 2]
    m = cluster_metrics(logits, y, np.array([0, 0, 1, 2]), np.array([3, 3, 1, 2]))
    assert m["cluster_error_pct"] == 0


def test_log_odds_order_images_as_q_does():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (500, 7))
    q = torch.softmax(torch.from_numpy(logits), 1).numpy()  # float64: no ties at this scale
    lo = log_odds(logits)
    assert np.allclose(lo, np.log(q) - np.log1p(-q))
    assert all(np.array_equal(np.argsort(lo[:, i]), np.argsort(q[:, i])) for i in range(7))


def clustering(tiny, out="run", epochs=4):
    return tiny(out, model={"kind": "clustering_aae", "code_dim": 2, "n_clusters": 6, "encoder_hidden": [32, 32],
                            "decoder_hidden": [32, 32], "discriminator_hidden": [16], "init_std": 0.1,
                            "input_noise": 0.3},
                train={"epochs": epochs, "batch_size": 20, "precision": "fp32", "progress": False, "device": "cpu"})


def test_clustering_never_trains_on_labels(tiny):
    """No classification phase, and the weights after training do not depend on the training labels."""
    cfg = clustering(tiny, epochs=2)
    weights = []
    for shuffle in (False, True):
        splits = load_splits(cfg.data, seed=cfg.seed)
        if shuffle:
            splits.train.y = splits.train.y[torch.randperm(len(splits.train.y))]
        torch.manual_seed(cfg.seed)
        t = Trainer(build_model(cfg, splits.train.dim), cfg, splits.train, splits.val, cfg.run_dir / str(shuffle))
        assert [s.phase.name for s in t.states] == ["reconstruction", "discriminator", "generator"]
        t.fit()
        weights.append([p.detach().clone() for p in t.model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_clustering_run_writes_metrics_that_its_assignments_reproduce(tiny):
    result = train_run(clustering(tiny, epochs=30))
    out, m = result["run_dir"], result["metrics"]
    assert isinstance(build_model(clustering(tiny), 64), ClusteringAAE)
    for key in ("cluster_error_pct", "cluster_acc_majority_pct", "nmi", "ari", "cluster_sizes", "empty_clusters"):
        assert key in m
    assert sum(m["cluster_sizes"]) == 50 and m["n_clusters"] == 6
    saved = np.load(out / "assignments.npz")
    splits = load_splits(clustering(tiny).data)
    again = cluster_metrics(saved["logits_val"], splits.val.y.numpy(), saved["test"], splits.test.y.numpy())
    doc = json.loads((out / "metrics.json").read_text())["metrics"]
    assert again["cluster_error_pct"] == pytest.approx(doc["cluster_error_pct"])
    assert again["nmi"] == pytest.approx(doc["nmi"])
    assert np.array_equal(saved["val"], saved["logits_val"].argmax(1)) and len(saved["head_labels"]) == 6
    assert np.allclose(saved["q_val"], F.softmax(torch.from_numpy(saved["logits_val"]), 1).numpy())
    assert (out / "clusters.png").is_file() and (out / "cluster_sizes.png").is_file()
    assert "val_cluster_error_pct" in (out / "log.csv").read_text().splitlines()[0]
    # the synthetic data are 4 prototypes plus noise: 6 clusters find them (chance: 75 % error)
    assert m["cluster_error_pct"] < 10 and m["nmi"] > 0.8


def test_input_shift_moves_what_the_encoder_reads_and_not_what_it_must_reconstruct(tiny):
    """model.input_shift: in training the encoder reads each image moved by its own random shift in
    [-k, k] per axis (before the input noise), the reconstruction target is the image as it is, and
    nothing moves in evaluation. Trained so, the model decodes a moved image closer to the unmoved one,
    and puts it in the unmoved image's cluster more often, than the same model trained without."""
    cfg = clustering(tiny, epochs=30)
    cfg.model.input_noise, cfg.model.input_shift = 0.0, 1
    model = build_model(cfg, 64)
    x = torch.rand(50, 64)
    batch = Batch(x, torch.zeros(50, dtype=torch.long))
    torch.manual_seed(3)
    seen = model.noisy(batch)
    torch.manual_seed(3)
    assert torch.equal(seen, model.shifted(batch, 1)) and not torch.equal(seen, x)
    torch.manual_seed(3)
    recon = model.reconstruction_loss(batch)
    assert torch.allclose(recon, model.reconstruction_error(model.decode_logits(model.encode(seen)), x))
    assert torch.equal(model.eval().noisy(batch), x)

    splits = load_splits(cfg.data, seed=cfg.seed)
    val = splits.val.x.float() / 255
    torch.manual_seed(5)
    moved = model.shifted(Batch(val, torch.zeros(len(val), dtype=torch.long)), 1)
    sse, same = {}, {}
    for k in (0, 1):
        cfg.model.input_shift = k
        torch.manual_seed(cfg.seed)
        t = Trainer(build_model(cfg, 64), cfg, splits.train, splits.val, cfg.run_dir / f"shift{k}")
        t.fit()
        m = t.model.eval()
        with torch.no_grad():
            sse[k] = ((m.decode(m.encode(moved)) - val) ** 2).sum(1).mean().item()
            same[k] = (m.heads(moved)[0].argmax(1) == m.heads(val)[0].argmax(1)).float().mean().item()
    assert sse[1] < 0.9 * sse[0] and same[1] > same[0]
    with pytest.raises(ConfigError, match="only the semisupervised_aae and the clustering_aae have it"):
        tiny(model={"kind": "aae", "input_shift": 1})
    cfg.model.input_shift = 8
    with pytest.raises(ConfigError, match="'model.input_shift': 8 leaves nothing of a 8 x 8 image"):
        build_model(cfg, 64)


def test_cluster_heads_decode_one_hot_y_with_a_zero_style(tiny):
    model = build_model(clustering(tiny), 64)
    heads = model.heads_images()
    assert heads.shape == (6, 64)
    code = torch.cat([torch.eye(6)[2:3], torch.zeros(1, 2)], 1)
    assert torch.allclose(heads[2], model.decode(code)[0])
    with pytest.raises(Exception, match="style prior is gaussian"):
        tiny(model={"kind": "clustering_aae"}, prior={"kind": "mog"})


def test_the_minibatch_adversary_judges_each_row_beside_its_own_batch_mean():
    torch.manual_seed(0)
    adv = Adversary(Categorical(4), (16,), None, minibatch=True)
    assert next(m for m in adv.modules() if isinstance(m, torch.nn.Linear)).in_features == 8  # y, its batch mean
    batch = torch.softmax(torch.randn(6, 4), 1)
    other = batch.clone()
    other[5] = torch.tensor([1.0, 0, 0, 0])  # one row changed: every row's mean, so every logit, changes
    a, b = adv.logits(batch), adv.logits(other)
    assert not torch.allclose(a[:5], b[:5])
    plain = Adversary(Categorical(4), (16,), None)
    assert torch.equal(plain.logits(batch)[:5], plain.logits(other)[:5])  # a plain one judges rows alone
    # prior samples and codes each beside their own batch's mean, never the two batches' together
    real = adv.prior.sample(6)
    loss, acc_real, acc_codes = adv.discriminator_loss(batch, real)
    expected = (F.binary_cross_entropy_with_logits(adv.logits(real), torch.ones(6))
                + F.binary_cross_entropy_with_logits(adv.logits(batch), torch.zeros(6)))
    assert loss.item() == pytest.approx(expected.item())
    # held-out accuracies judge batches of the training batch's size
    codes = torch.softmax(torch.randn(10, 4), 1)
    in_batches = torch.cat([adv.logits(codes[:5]), adv.logits(codes[5:])])
    assert adv.accuracies(codes, batch_size=5)[1] == pytest.approx((in_batches < 0).float().mean().item())


def test_a_batch_on_few_clusters_is_told_from_the_prior_only_by_the_minibatch_adversary():
    """Each row of the fake batches is a valid one-hot draw; only their spread over the classes is
    wrong (two classes of four used), which a per-row adversary cannot see on a class it shares."""
    torch.manual_seed(0)
    accuracy = {}
    for minibatch in (False, True):
        adv = Adversary(Categorical(4), (32,), None, minibatch=minibatch)
        opt = torch.optim.Adam(adv.parameters(), 1e-2)
        for _ in range(300):
            fake = F.one_hot(torch.randint(0, 2, (50,)), 4).float()  # classes 0 and 1 only
            loss, *_ = adv.discriminator_loss(fake, adv.prior.sample(50))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():  # fresh batches, judged on class 0 rows alone (a class both use)
            fake = F.one_hot(torch.randint(0, 2, (50,)), 4).float()
            real = adv.prior.sample(50)
            right = torch.cat([adv.logits(fake)[fake[:, 0] == 1] < 0, adv.logits(real)[real[:, 0] == 1] > 0])
        accuracy[minibatch] = right.float().mean().item()
    assert accuracy[False] < 0.75 and accuracy[True] > 0.95


def test_minibatch_adversary_is_refused_where_there_is_no_class_head(tiny):
    with pytest.raises(ConfigError, match="model.minibatch_adversary': only models with a class head"):
        tiny("x", model={"kind": "aae", "minibatch_adversary": True})


def test_a_style_that_names_the_cluster_is_told_apart_only_by_the_adversary_that_sees_the_class(tiny):
    """A 1-D style that is N(0, 1) overall but whose quartile is the cluster (of 4): a style adversary
    that sees q(y | x) beside it (``model.adversary_sees_label``) tells it from the prior (at best
    87.5 %: a prior draw falls in its cluster's quartile one time in four); one that sees the style
    alone cannot (50 %)."""
    from aaekit.priors import Gaussian

    cfg = clustering(tiny)
    cfg.model.adversary_sees_label = True
    model = build_model(cfg, 64)
    assert model.style_sees_class and model.adversaries["z"].net[0].in_features == 2 + 6
    accuracy = {}
    for sees in (False, True):
        torch.manual_seed(0)
        adv = Adversary(Gaussian(1), (32, 32), None, side_dim=4 if sees else 0)
        opt = torch.optim.Adam(adv.parameters(), 1e-2)

        def draw(n=100, sees=sees):
            z = torch.randn(n, 1)
            quartile = torch.bucketize(z[:, 0], torch.tensor([-0.6745, 0.0, 0.6745]))
            return z, (F.one_hot(quartile, 4).float() if sees else None)

        for _ in range(300):
            z, side = draw()
            loss, *_ = adv.discriminator_loss(z, adv.prior.sample(100), side)
            opt.zero_grad()
            loss.backward()
            opt.step()
        z, side = draw(4000)
        accuracy[sees] = sum(adv.accuracies(z, side)) / 2
    assert accuracy[False] < 0.55 and accuracy[True] > 0.8, accuracy


def test_tie_spread_gives_the_error_over_every_choice_a_tie_leaves():
    from aaekit.metrics.head_ties import tie_spread

    # cluster 0: validation images 0-2 tie at q = 1 (labels 7, 4, 4); cluster 1: image 3 alone (label 1)
    q_val = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.2, 0.8]], np.float32)
    y_val = np.array([7, 4, 4, 1])
    assign_test, y_test = np.array([0, 0, 0, 0, 1]), np.array([4, 4, 4, 7, 1])  # cluster 0: three 4s, a 7
    s = tie_spread(q_val, y_val, assign_test, y_test)
    assert s["tied"] == [3, 1]
    assert s["first"] == pytest.approx(60)  # named 7 by the first tied image: three of five wrong
    assert s["min"] == pytest.approx(20) and s["max"] == pytest.approx(60)
    assert s["expected"] == pytest.approx((60 + 20 + 20) / 3)


def test_head_ties_refuses_a_file_that_is_not_an_assignments_npz_in_one_line(tmp_path, capsys):
    from aaekit.metrics.head_ties import main

    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    for bad in (tmp_path / "missing.npz", tmp_path / "other.npz"):
        assert main([str(bad)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {bad}: not a clustering run's assignments.npz") and "\n" not in err

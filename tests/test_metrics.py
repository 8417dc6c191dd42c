import json

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.neighbors import KernelDensity

from aaekit.data import ArrayDataset
from aaekit.metrics.classifier import Classifier, load_classifier, save_classifier, train_classifier
from aaekit.metrics.frechet import frechet_distance, gaussian_frechet
from aaekit.metrics.parzen import DEFAULT_SIGMAS, parzen_evaluate, parzen_log_likelihood
from aaekit.metrics.quality import nearest_neighbours
from aaekit.train import CheckpointError
from conftest import make_images


def _points(n, d, seed):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_parzen_matches_scipy_densities_to_1e4():
    samples, x = _points(120, 12, 0), _points(40, 12, 1)
    sigmas = [0.05, 0.1, 0.3, 1.0]
    ours = parzen_log_likelihood(samples, x, sigmas, batch_size=7, dtype=torch.float64).numpy()
    for k, sigma in enumerate(sigmas):
        # reference: mean of the Gaussian densities centred on the samples, from scipy
        comps = np.stack([multivariate_normal(s, sigma**2 * np.eye(12)).logpdf(x.numpy()) for s in samples.numpy()])
        ref = logsumexp(comps, axis=0) - np.log(len(samples))
        np.testing.assert_allclose(ours[k], ref, atol=1e-4, rtol=0)


def test_parzen_matches_sklearn_kernel_density_to_1e4():
    # scikit-learn's tree-based KDE is exact where its kernels do not underflow: moderate sigma
    samples, x = _points(300, 5, 2), _points(60, 5, 3)
    for sigma in (0.2, 0.5):
        ref = KernelDensity(bandwidth=sigma).fit(samples.numpy()).score_samples(x.numpy())
        ours = parzen_log_likelihood(samples, x, sigma, dtype=torch.float64).numpy()
        np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


def test_parzen_float32_and_batching_agree_with_float64_on_mnist_sized_points():
    samples, x = _points(500, 784, 4), _points(64, 784, 5)
    ref = parzen_log_likelihood(samples, x, [0.15, 0.3], batch_size=64, dtype=torch.float64)
    fast = parzen_log_likelihood(samples.float(), x.float(), [0.15, 0.3], batch_size=10)
    torch.testing.assert_close(fast.double(), ref, atol=5e-3, rtol=0)


def test_parzen_chooses_the_grids_best_sigma_on_validation():
    samples, val, test = _points(200, 6, 6), _points(80, 6, 7), _points(80, 6, 8)
    grid = [0.4, 0.02, 0.1, 0.2, 0.05]  # unsorted on purpose
    result = parzen_evaluate(samples, val, test, grid, dtype=torch.float64, progress=False)
    val_means = {s: parzen_log_likelihood(samples, val, s, dtype=torch.float64).mean().item() for s in grid}
    assert result.sigma == max(val_means, key=val_means.get)
    assert result.sigmas == sorted(grid)
    assert result.val_mean == pytest.approx([val_means[s] for s in sorted(grid)])
    test_ll = parzen_log_likelihood(samples, test, result.sigma, dtype=torch.float64)
    assert result.test_mean == pytest.approx(test_ll.mean().item())
    assert result.test_se == pytest.approx(test_ll.std().item() / np.sqrt(80))
    assert not result.on_grid_edge  # data-like points: the best width lies inside this grid


def test_parzen_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        parzen_log_likelihood(_points(5, 3, 0), _points(5, 3, 1), [0.1, 0.0])
    with pytest.raises(ValueError, match="positive"):
        parzen_log_likelihood(_points(5, 3, 0), _points(5, 3, 1), float("nan"))
    with pytest.raises(ValueError, match="one D"):
        parzen_log_likelihood(_points(5, 3, 0), _points(5, 4, 1), 0.1)


def test_default_sigma_grid_is_sorted_and_covers_mnist_widths():
    assert list(DEFAULT_SIGMAS) == sorted(DEFAULT_SIGMAS)
    assert DEFAULT_SIGMAS[0] < 0.1 and DEFAULT_SIGMAS[-1] > 0.3


def test_gaussian_frechet_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    a, b = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert gaussian_frechet(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_is_small_within_a_set_and_grows_with_a_shift():
    torch.manual_seed(0)
    clf = Classifier(64, (32, 16), 4)
    x, _ = make_images(n=800, side=8)
    x = torch.from_numpy(x).reshape(len(x), -1).float() / 255
    same = frechet_distance(x[:400], x[400:], clf)
    shifted = frechet_distance(x[:400], (x[400:] + 0.3).clamp(0, 1), clf)
    assert frechet_distance(x, x, clf) == pytest.approx(0, abs=1e-6)
    assert same < shifted / 5


def _synthetic(n, seed):
    x, y = make_images(n=n, side=8, seed=0)  # same prototypes (seed 0), fresh noise below
    noise = np.random.default_rng(seed).normal(0, 0.05, x.shape)
    x = np.clip(x / 255 + noise, 0, 1).astype(np.float32)
    return ArrayDataset(torch.from_numpy(x.reshape(n, -1)), torch.from_numpy(y), (8, 8))


def test_classifier_learns_and_round_trips(tmp_path):
    train, val = _synthetic(400, 1), _synthetic(200, 2)
    model, hist = train_classifier(train, val, epochs=5, seed=0, progress=False)
    assert hist["val_accuracy_per_epoch"][-1] > 0.95
    path = save_classifier(model, tmp_path / "clf.pt", {"seed": 0, "torch": str(torch.__version__)})
    again = load_classifier(path)
    torch.testing.assert_close(again.embed(val.x), model.embed(val.x))
    assert json.loads(path.with_suffix(".json").read_text())["seed"] == 0


def test_classifier_load_rejects_other_files(tmp_path):
    with pytest.raises(CheckpointError, match="no classifier"):
        load_classifier(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an aaekit MNIST classifier"):
        load_classifier(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_classifier(tmp_path / "junk.pt")


def test_shipped_classifier_recognises_mnist_digits(mnist):
    from aaekit.config import DataConfig
    from aaekit.data import load_splits

    test = load_splits(DataConfig(data_dir=str(mnist))).test
    clf = load_classifier()
    assert (clf.predict(test.floats()[:2000]) == test.y[:2000]).float().mean() > 0.95


def test_nearest_neighbours_match_brute_force():
    samples, train = _points(30, 10, 0).float(), _points(257, 10, 1).float()
    brute = ((samples[:, None] - train[None]) ** 2).sum(-1).argmin(1)
    torch.testing.assert_close(nearest_neighbours(samples, train, batch_size=50), brute)

"""How well codes match their prior, as numbers (the paper's Fig. 2 claim).

- ``c2st``: a classifier two-sample test. A k-nearest-neighbour classifier (scikit-learn) learns to
  tell the codes from as many prior draws on one half of both, and its accuracy on the other half is
  the score: 0.5 when the two are indistinguishable, 1.0 when they lie apart.
- ``mmd``: the maximum mean discrepancy (squared, unbiased) with a Gaussian kernel whose bandwidth is
  the median distance between points of the pooled sample: about 0 for one distribution.

Both are seeded and draw their prior samples in a forked RNG, so measuring never changes a run's
random stream.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from aaekit.priors import Prior


def c2st(a: np.ndarray, b: np.ndarray, seed: int = 0, neighbours: int = 25) -> float:
    """Held-out accuracy of a k-NN classifier telling ``a`` (N, D) from ``b`` (M, D); trained on a
    random half of the pooled points, scored on the other half."""
    x = np.concatenate([a, b]).astype(np.float64)
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    perm = np.random.default_rng(seed).permutation(len(x))
    train, test = perm[: len(x) // 2], perm[len(x) // 2 :]
    clf = KNeighborsClassifier(n_neighbors=min(neighbours, len(train))).fit(x[train], y[train])
    return float(clf.score(x[test], y[test]))


def mmd(a: np.ndarray, b: np.ndarray, seed: int = 0, n: int = 2000) -> float:
    """Unbiased squared MMD between ``a`` and ``b`` (up to ``n`` random points of each), Gaussian
    kernel of bandwidth the median pairwise distance of the pooled points."""
    rng = np.random.default_rng(seed)
    a = torch.as_tensor(a[rng.permutation(len(a))[:n]], dtype=torch.float64)
    b = torch.as_tensor(b[rng.permutation(len(b))[:n]], dtype=torch.float64)
    pooled = torch.cat([a, b])
    d2 = torch.cdist(pooled, pooled).pow(2)
    bandwidth2 = d2[torch.triu_indices(len(pooled), len(pooled), 1).unbind()].median().clamp_min(1e-12)
    k = torch.exp(-d2 / (2 * bandwidth2))
    na = len(a)

    def off_diagonal_mean(m: torch.Tensor) -> torch.Tensor:
        return (m.sum() - m.diagonal().sum()) / (len(m) * (len(m) - 1))

    return float(off_diagonal_mean(k[:na, :na]) + off_diagonal_mean(k[na:, na:]) - 2 * k[:na, na:].mean())


def prior_fit(codes: torch.Tensor, prior: Prior, seed: int = 0, n: int = 10_000) -> dict[str, float]:
    """``prior_fit_c2st`` and ``prior_fit_mmd`` of up to ``n`` codes against as many prior draws."""
    codes = codes[:n].float().cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        real = prior.sample(len(codes), device="cpu").float()
    a, b = codes.numpy(), real.numpy()
    return {"prior_fit_c2st": c2st(a, b, seed), "prior_fit_mmd": mmd(a, b, seed)}

"""Fréchet distance between two sets of images, in the feature space of aaekit's MNIST classifier.

d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)): the distance between Gaussians fitted
to the two feature sets (Heusel et al., 2017, with a small MNIST classifier in place of Inception).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch


def gaussian_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, s1) and N(mu2, s2).

    Tr((s1 s2)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the symmetric
    s1^(1/2) s2 s1^(1/2), which has the same spectrum: stable for singular covariances (dead
    features), unlike a general matrix square root."""
    w, v = scipy.linalg.eigh(s1)
    root1 = (v * np.sqrt(w.clip(min=0))) @ v.T
    cross = scipy.linalg.eigvalsh(root1 @ s2 @ root1).clip(min=0)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(cross).sum())


def feature_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features.cpu() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(a: torch.Tensor, b: torch.Tensor, classifier) -> float:
    """Fréchet distance between images ``a`` and ``b`` (N, 784) in [0, 1], in the classifier's features."""
    return gaussian_frechet(*feature_stats(classifier.embed(a)), *feature_stats(classifier.embed(b)))

"""How well unsupervised clusters match the labels (paper Sec. 6, Table 3).

Every function takes cluster assignments (the argmax of q(y | x)) and, for the paper's metric, the
validation images' cluster logits (q(y | x) is their softmax); labels are only read here, never in
training.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def log_odds(logits: np.ndarray) -> np.ndarray:
    """``log(q_i / (1 - q_i))`` of q = softmax(logits), each row an image, in float64: in the same
    order as q(y_i | x) over images, but it never saturates. A trained cluster head's softmax is 1.0
    in float32 for dozens to hundreds of validation images at once (``aaekit.metrics.head_ties``),
    so the argmax of q itself would pick the first of them, not the most sure."""
    lg = np.asarray(logits, dtype=np.float64)
    mask = np.eye(lg.shape[1], dtype=bool)
    out = np.empty_like(lg)
    for i in range(0, len(lg), 2048):  # blocks of images: N x K x K at once could be large
        block = lg[i : i + 2048]
        out[i : i + 2048] = block - logsumexp(np.where(mask, -np.inf, block[:, None, :]), axis=2)  # all but i
    return out


def head_labels(logits_val: np.ndarray, y_val: np.ndarray) -> np.ndarray:
    """The paper's cluster labels: cluster i takes the label of the validation image x_n that
    maximises q(y_i | x_n) (every cluster has one, whether or not any image is assigned to it),
    ranked by :func:`log_odds` of the validation images' logits."""
    return np.asarray(y_val)[log_odds(logits_val).argmax(0)]


def majority_labels(assign_val: np.ndarray, y_val: np.ndarray, n_clusters: int) -> np.ndarray:
    """Each cluster's most frequent validation label (the best many-to-one assignment on the
    validation split); -1 for a cluster no validation image falls in."""
    out = np.full(n_clusters, -1)
    for k in range(n_clusters):
        members = np.asarray(y_val)[np.asarray(assign_val) == k]
        if len(members):
            out[k] = np.bincount(members).argmax()
    return out


def cluster_metrics(logits_val: np.ndarray, y_val: np.ndarray, assign_test: np.ndarray,
                    y_test: np.ndarray) -> dict[str, float | int | list[int]]:
    """``cluster_error_pct``: the paper's test error, each test image given its cluster's head label
    (:func:`head_labels`, from the validation images' logits); ``cluster_acc_majority_pct``: test accuracy with
    each cluster mapped to its validation majority label (a test image in a cluster empty on
    validation counts as wrong); ``nmi`` and ``ari`` of the test assignments against the labels
    (scikit-learn); ``cluster_sizes``: test images per cluster; ``empty_clusters``: clusters no test
    image falls in."""
    logits_val, y_val = np.asarray(logits_val), np.asarray(y_val)
    assign_test, y_test = np.asarray(assign_test), np.asarray(y_test)
    k = logits_val.shape[1]
    heads = head_labels(logits_val, y_val)
    majority = majority_labels(logits_val.argmax(1), y_val, k)
    sizes = np.bincount(assign_test, minlength=k)
    return {
        "cluster_error_pct": float(100 * (heads[assign_test] != y_test).mean()),
        "cluster_acc_majority_pct": float(100 * (majority[assign_test] == y_test).mean()),
        "nmi": float(normalized_mutual_info_score(y_test, assign_test)),
        "ari": float(adjusted_rand_score(y_test, assign_test)),
        "cluster_sizes": sizes.tolist(),
        "empty_clusters": int((sizes == 0).sum()),
    }

"""Matplotlib figures: image grids, 2-D code maps (paper Figs. 2 and 4), manifolds (Fig. 2e)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def image_formats() -> list[str]:
    """The file extensions matplotlib can write here (png, pdf, svg, ...)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())


def tile(images: np.ndarray, image_shape: Sequence[int], ncol: int) -> np.ndarray:
    """(N, D) images in [0, 1] -> one (rows*h, ncol*w) mosaic, 1-pixel white gaps."""
    h, w = image_shape[0], image_shape[1] if len(image_shape) > 1 else 1
    n = len(images)
    nrow = -(-n // ncol)
    out = np.ones((nrow * (h + 1) - 1, ncol * (w + 1) - 1), dtype=np.float32)
    for i, img in enumerate(np.asarray(images, dtype=np.float32)):
        r, c = divmod(i, ncol)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = img.reshape(h, w)
    return out


def save_grid(images: np.ndarray, image_shape: Sequence[int], path: str | Path, ncol: int = 10,
              title: str | None = None) -> Path:
    mosaic = tile(images, image_shape, ncol)
    scale = 0.25 if image_shape[0] <= 32 else 0.5
    fig, ax = plt.subplots(figsize=(max(2, mosaic.shape[1] * scale / 7), max(2, mosaic.shape[0] * scale / 7)))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_codes(ax, z: np.ndarray, y: np.ndarray | None, title: str = "",
               prior: np.ndarray | None = None) -> None:
    """Scatter of 2-D codes coloured by label; with prior samples, the prior's density under them
    (grey points) and its contours over them (black lines at 5 %, 25 % and 60 % of its peak, from a
    smoothed histogram of the samples), so codes and prior can be compared where the codes are dense."""
    if prior is not None:
        ax.scatter(prior[:, 0], prior[:, 1], s=1, c="0.85", rasterized=True, label="prior")
    colour = {"c": y, "cmap": "tab10", "vmin": -0.5, "vmax": 9.5} if y is not None else {"c": "C0"}
    sc = ax.scatter(z[:, 0], z[:, 1], s=1.5, rasterized=True, **colour)
    if prior is not None and len(prior) >= 100:
        from scipy.ndimage import gaussian_filter

        h, xe, ye = np.histogram2d(prior[:, 0], prior[:, 1], bins=60)
        h = gaussian_filter(h, 1.5)
        ax.contour((xe[:-1] + xe[1:]) / 2, (ye[:-1] + ye[1:]) / 2, h.T, levels=h.max() * np.array([0.05, 0.25, 0.6]),
                   colors="black", linewidths=0.6)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal", adjustable="datalim")
    ax.tick_params(labelsize=7)
    return sc


def save_confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, path: str | Path,
                   title: str = "") -> Path:
    """The confusion matrix (rows: true class, columns: predicted), counts in each cell."""
    from sklearn.metrics import confusion_matrix

    m = confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(np.log1p(m), cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color="black" if i != j else "white")
    ax.set(xlabel="predicted", ylabel="true", xticks=range(n_classes), yticks=range(n_classes), title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def save_codes(z: np.ndarray, y: np.ndarray | None, path: str | Path, title: str = "",
               prior: np.ndarray | None = None, heads: np.ndarray | None = None) -> Path:
    """2-D codes coloured by label; ``heads``: points marked with black crosses and numbered."""
    fig, ax = plt.subplots(figsize=(5, 5))
    sc = plot_codes(ax, z, y, title, prior)
    if heads is not None:
        ax.scatter(heads[:, 0], heads[:, 1], marker="x", s=30, c="black", linewidths=1.2)
        for i, (a, b) in enumerate(heads):
            ax.annotate(str(i), (a, b), textcoords="offset points", xytext=(3, 3), fontsize=7)
    if y is not None:
        fig.colorbar(sc, ax=ax, ticks=range(10), fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return Path(path)


def save_code_panels(panels: Sequence[dict], path: str | Path, ncol: int = 2) -> Path:
    """Several code maps side by side; each panel is a dict with z, y, title and optional prior, or
    with ``image`` (a PNG file shown as it is, e.g. a run's manifold.png) and title."""
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 4.2 * nrow), squeeze=False)
    sc = None
    for ax, p in zip(axes.flat, panels, strict=False):
        if "image" in p:
            ax.imshow(plt.imread(p["image"]), interpolation="nearest")
            ax.set_title(p.get("title", ""), fontsize=9)
            ax.axis("off")
            continue
        sc = plot_codes(ax, p["z"], p.get("y"), p.get("title", ""), p.get("prior"))
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if sc is not None and any(p.get("y") is not None for p in panels if "image" not in p):
        fig.colorbar(sc, ax=axes.ravel().tolist(), ticks=range(10), fraction=0.02)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def save_cluster_sizes(sizes: Sequence[int], labels: Sequence[int] | None, path: str | Path,
                       title: str = "") -> Path:
    """Images per cluster as bars, each bar marked with its cluster's label where given."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.3 * len(sizes) + 1.5), 3))
    ax.bar(range(len(sizes)), sizes, color="C0")
    if labels is not None:
        for k, (n, lab) in enumerate(zip(sizes, labels, strict=True)):
            ax.text(k, n, str(lab), ha="center", va="bottom", fontsize=7)
    ax.set(xlabel="cluster", ylabel="test images", xticks=range(len(sizes)), title=title)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)

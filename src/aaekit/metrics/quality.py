"""Sample quality of a generator, as the paper's Table 1 measures it and beside it (issue 6):
the Parzen-window test log-likelihood (sigma chosen on validation), a Fréchet distance to the test
images in a small classifier's features, and each sample's nearest training image."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from aaekit.data import Splits
from aaekit.metrics.classifier import load_classifier
from aaekit.metrics.frechet import frechet_distance
from aaekit.metrics.parzen import DEFAULT_SIGMAS, parzen_evaluate


@torch.no_grad()
def nearest_neighbours(samples: torch.Tensor, train: torch.Tensor, batch_size: int = 5000) -> torch.Tensor:
    """Index of each sample's nearest training image (pixel-wise Euclidean)."""
    best_d = torch.full((len(samples),), float("inf"), device=samples.device)
    best_i = torch.zeros(len(samples), dtype=torch.long, device=samples.device)
    for i in range(0, len(train), batch_size):
        d, j = torch.cdist(samples.float(), train[i : i + batch_size].to(samples.device).float()).min(1)
        closer = d < best_d
        best_d, best_i = torch.where(closer, d, best_d), torch.where(closer, j + i, best_i)
    return best_i


def sample_quality(samples: torch.Tensor, splits: Splits, out_dir: str | Path | None = None,
                   sigmas: Sequence[float] = DEFAULT_SIGMAS, n_neighbours: int = 100,
                   progress: bool = True, title: str = "samples") -> dict[str, Any]:
    """Parzen log-likelihood (nats per test image), Fréchet distance to the test split and, with
    ``out_dir``, a figure of ``n_neighbours`` samples each beside its nearest training image."""
    start = time.perf_counter()
    device = samples.device
    # load first: a missing or broken classifier file should stop the run before minutes of work
    classifier = load_classifier(device=device) if splits.test.image_shape == (28, 28) else None
    val, test = splits.val.floats(device), splits.test.floats(device)
    parzen = parzen_evaluate(samples, val, test, sigmas, progress=progress)
    parzen_time = time.perf_counter() - start
    out: dict[str, Any] = {"n_samples": len(samples), "parzen": parzen.to_dict(),
                           "parzen_time_s": round(parzen_time, 2)}
    if classifier is not None:
        out["frechet_distance"] = frechet_distance(samples, test, classifier)
    if out_dir is not None and len(splits.test.image_shape) >= 2:
        from aaekit.report import figures

        train = splits.train.floats(device)
        shown = samples[:n_neighbours]
        nearest = train[nearest_neighbours(shown, train)]
        pairs = torch.stack([shown.float(), nearest], 1).reshape(2 * len(shown), -1)
        figures.save_grid(pairs.cpu().numpy(), splits.test.image_shape, Path(out_dir) / "nearest.png", ncol=20,
                          title=f"{title} (odd columns) beside their nearest training image (even columns)")
        out["nearest_figure"] = "nearest.png"
    out["eval_time_s"] = round(time.perf_counter() - start, 2)
    return out

"""Measures and figures of the AAEs that use labels (paper Figs. 4 and 7; issue 5).

- Supervised AAE: does the style code hold the label? A small classifier trained on the training
  images' codes predicts the test labels (near 10 %: no label in the style). Does the decoder draw
  the digit it is asked for? aaekit's shipped MNIST classifier reads the digits decoded from test
  styles with every label. Figure: one row per test image (its style), one column per digit.
- Label-conditioned prior: the share of test codes in their own label's component is measured by
  the model's diagnostics (``component_accuracy``); figure: images decoded along each component.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aaekit.data import ArrayDataset, Splits
from aaekit.metrics.classifier import load_classifier, train_classifier
from aaekit.models.base import Model

if TYPE_CHECKING:
    from aaekit.models.supervised import LabelPriorAAE, SupervisedAAE


@torch.no_grad()
def _codes(model: Model, data: ArrayDataset, device) -> torch.Tensor:
    x = data.floats(device)
    return torch.cat([model.encode(x[i : i + 1000]).float() for i in range(0, len(x), 1000)]).cpu()


def style_metrics(model: SupervisedAAE, splits: Splits, device, out_dir: Path | None = None,
                  epochs: int = 5, seed: int = 0, n_decoded: int = 1000) -> dict[str, Any]:
    labelled = splits.train.y >= 0
    z_train = _codes(model, splits.train, device)[labelled]
    train = ArrayDataset(z_train, splits.train.y[labelled], (model.code_dim,))
    val = ArrayDataset(_codes(model, splits.val, device), splits.val.y, (model.code_dim,))
    clf, _ = train_classifier(train, val, epochs=epochs, seed=seed, progress=False)
    z_test = _codes(model, splits.test, device)
    out: dict[str, Any] = {
        "style_label_accuracy": (clf.predict(z_test) == splits.test.y).float().mean().item(),
        "style_classifier": f"aaekit Classifier on the {len(train)} training codes, {epochs} epochs, seed {seed}",
    }
    n = min(n_decoded, len(z_test))
    k = torch.arange(model.n_classes).repeat_interleave(n)
    with torch.no_grad():
        decoded = torch.cat([model.decode(z_test[:n].to(device), torch.full((n,), c, device=device)).float()
                             for c in range(model.n_classes)])
    if splits.test.image_shape == (28, 28):
        predicted = load_classifier(device=device).predict(decoded).cpu()
        out["decoded_label_accuracy"] = (predicted == k).float().mean().item()
        out["decoded_images"] = len(decoded)
    if out_dir is not None and len(splits.test.image_shape) >= 2:
        from aaekit.report import figures

        rows = 10
        x = splits.test.floats()[:rows]
        grid = decoded.cpu().reshape(model.n_classes, n, -1)[:, :rows].transpose(0, 1)  # (rows, classes, D)
        figures.save_grid(torch.cat([x[:, None], grid], 1).reshape(rows * (model.n_classes + 1), -1).numpy(),
                          splits.test.image_shape, Path(out_dir) / "style.png", ncol=model.n_classes + 1,
                          title="a test image (left), then its style drawn as each digit 0-9")
    return out


@torch.no_grad()
def component_walks(model: LabelPriorAAE, out_dir: Path, image_shape, steps: int = 12) -> None:
    """Images decoded along each label's component of the prior: its style axis (Fig. 4)."""
    from aaekit.report import figures

    device = model.prior_mean.device
    points = torch.cat([model.prior.axis(k, steps) for k in range(model.n_classes)]).to(device)
    figures.save_grid(model.decode(points).float().cpu().numpy(), image_shape, out_dir / "walks.png", ncol=steps,
                      title=f"decoded along each component of the {type(model.prior).__name__} prior (row k: label k)")


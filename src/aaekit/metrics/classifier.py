"""A small MNIST classifier that aaekit trains and ships: its penultimate layer is the feature space
of the Fréchet distance (aaekit.metrics.frechet), and its predictions check that decoded digits
look like the digit asked for (supervised AAE).

``aaekit classifier`` trains it (seeded) and writes the weights with a JSON record of its seed,
accuracy and provenance; the package ships the file that command wrote (``SHIPPED``).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from aaekit.data import ArrayDataset, BatchLoader
from aaekit.train.checkpoint import CheckpointError

SHIPPED = Path(__file__).with_name("mnist_classifier.pt")
KIND = "aaekit.mnist_classifier"


class Classifier(nn.Module):
    """784 -> 512 -> 256 -> 10 ReLU MLP with dropout; ``features`` is the 256-D hidden layer."""

    def __init__(self, x_dim: int = 784, hidden: tuple[int, int] = (512, 256), n_classes: int = 10,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(x_dim, hidden[0]), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden[0], hidden[1]), nn.ReLU(), nn.Dropout(dropout),
        )
        self.head = nn.Linear(hidden[1], n_classes)
        self.x_dim, self.hidden, self.n_classes, self.dropout = x_dim, tuple(hidden), n_classes, dropout

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        return batched(self, x, batch_size).argmax(1)

    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        return batched(self.features, x, batch_size)


@torch.no_grad()
def batched(fn, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``fn`` applied to ``x`` in eval mode, block by block, on the module's device."""
    module = fn if isinstance(fn, nn.Module) else fn.__self__
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    out = torch.cat([fn(x[i : i + batch_size].to(device).float()) for i in range(0, len(x), batch_size)])
    module.train(was_training)
    return out


def train_classifier(train: ArrayDataset, val: ArrayDataset, epochs: int = 10, seed: int = 0,
                     lr: float = 1e-3, batch_size: int = 100, progress: bool = True) -> tuple[Classifier, dict]:
    """Adam on cross-entropy; returns the model and its validation accuracy per epoch."""
    if train.y is None:
        raise ValueError("the classifier needs labelled training images")
    torch.manual_seed(seed)
    model = Classifier(train.dim, n_classes=int(train.y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = BatchLoader(train, batch_size, seed=seed)
    val_x = val.floats()
    history = []
    for epoch in tqdm(range(epochs), desc="classifier", disable=not progress):
        model.train()
        for batch in loader.epoch(epoch):
            loss = F.cross_entropy(model(batch.x), batch.y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        history.append((model.predict(val_x) == val.y).float().mean().item())
    return model.eval(), {"val_accuracy_per_epoch": history}


def save_classifier(model: Classifier, path: str | Path, record: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arch = {"x_dim": model.x_dim, "hidden": list(model.hidden), "n_classes": model.n_classes,
            "dropout": model.dropout}
    torch.save({"kind": KIND, "arch": arch, "state": model.state_dict(), "record": record}, path)
    path.with_suffix(".json").write_text(json.dumps({"arch": arch, **record}, indent=2) + "\n")
    return path


def load_classifier(path: str | Path | None = None, device: torch.device | str = "cpu") -> Classifier:
    """The shipped classifier (or the one at ``path``), in eval mode."""
    path = Path(path) if path else SHIPPED
    if not path.is_file():
        raise CheckpointError(f"no classifier at {path}; train one with `aaekit classifier --out {path}`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or foreign file: one line, no traceback
        raise CheckpointError(f"{path} cannot be read as a classifier ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise CheckpointError(f"{path} is not an aaekit MNIST classifier")
    arch = state["arch"]
    model = Classifier(arch["x_dim"], tuple(arch["hidden"]), arch["n_classes"], arch["dropout"])
    model.load_state_dict(state["state"])
    return model.to(device).eval()


def build_shipped(out: str | Path, data_cfg, seed: int = 0, epochs: int = 10, progress: bool = True,
                  version: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train the classifier on the training split (model choices on val) and record its test accuracy."""
    from aaekit.data import load_splits

    splits = load_splits(data_cfg)
    start = time.perf_counter()
    model, hist = train_classifier(splits.train, splits.val, epochs=epochs, seed=seed, progress=progress)
    test_acc = (model.predict(splits.test.floats()) == splits.test.y).float().mean().item()
    record = {"seed": seed, "epochs": epochs, "optimizer": "adam lr 1e-3, batch 100",
              "train_images": len(splits.train), "test_accuracy": test_acc, **hist,
              "wall_time_s": round(time.perf_counter() - start, 2), "torch": str(torch.__version__),
              "threads": torch.get_num_threads(), "host": f"{platform.machine()}, {platform.processor()}",
              **(version or {})}
    save_classifier(model, out, record)
    return record

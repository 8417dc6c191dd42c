"""Batch size against time to a fixed validation reconstruction error, with the learning rate scaled.

The paper's 8-D MNIST AAE (``configs/parzen/paper_parzen_aae.yaml``: 784-1000-1000-8, N(0, 5^2 I), the
paper's SGD) is trained at each batch size with every phase's learning rate scaled from the
paper's (set for batch 100) by ``rule``: linear (lr x B/100) or sqrt (lr x sqrt(B/100)). After
each epoch the reconstruction error of the validation images is measured (the stopping rule is a
choice, so it never looks at the test split); a run stops when it reaches
``--target`` (summed squared error per image) or after ``--max-epochs``. Reported: epochs and
training wall time (the epoch-end measurement excluded) to the target, per batch size and rule;
``batch_size.png`` plots both beside the error curves.

    python benchmarks/batch_size.py [--batch-sizes 100 200 500 1000] [--rules linear sqrt]
        [--target 16] [--max-epochs 20] [--out results/bench/batch_size.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from aaekit.config import load_config  # noqa: E402
from aaekit.data import load_splits  # noqa: E402
from aaekit.models import build_model  # noqa: E402
from aaekit.run import code_version  # noqa: E402
from aaekit.train import Trainer, TrainingDiverged  # noqa: E402
from aaekit.train.trainer import peak_memory_mb  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "parzen" / "paper_parzen_aae.yaml"
PAPER_LR = {"reconstruction": 0.01, "discriminator": 0.1, "generator": 0.1}  # for batch 100


def run(batch: int, rule: str, args, splits) -> dict:
    scale = batch / 100 if rule == "linear" else math.sqrt(batch / 100)
    sets = [f"seed={args.seed}", f"train.batch_size={batch}", "train.progress=false",
            f"out_dir={args.runs}/{rule}/b{batch}"]
    sets += [f"train.optim.{phase}.lr={lr * scale:g}" for phase, lr in PAPER_LR.items()]
    cfg = load_config(CONFIG, sets)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, splits.train.dim, splits.train.image_shape)
    trainer = Trainer(model, cfg, splits.train, None, cfg.run_dir)
    val_x = splits.val.floats(trainer.device)
    curve, train_time, reached, diverged = [], 0.0, None, None
    for epoch in range(1, args.max_epochs + 1):
        cfg.train.epochs = epoch
        before = trainer.wall_time
        try:
            trainer.fit(overwrite=True)
        except TrainingDiverged as e:
            diverged = str(e)
            break
        train_time += trainer.wall_time - before
        curve.append(model.evaluate(val_x)["recon_sse"])
        if curve[-1] <= args.target:
            reached = epoch
            break
    out = {"batch_size": batch, "rule": rule, "lr": {k: v * scale for k, v in PAPER_LR.items()},
           "val_recon_sse_per_epoch": curve, "epochs_to_target": reached,
           "train_time_to_target_s": train_time if reached else None, "train_time_s": train_time,
           "samples_per_s": len(splits.train) * len(curve) / train_time if train_time else None,
           "diverged": diverged}
    print(f"batch {batch} ({rule}): " + (f"target in {reached} epochs, {train_time:.0f} s" if reached else
          f"target not reached in {len(curve)} epochs" + (" (diverged)" if diverged else "")), flush=True)
    return out


def plot(results: list[dict], target: float, path: Path) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for r in results:
        style = "-" if r["rule"] == "linear" else "--"
        a.plot(range(1, len(r["val_recon_sse_per_epoch"]) + 1), r["val_recon_sse_per_epoch"], style,
               marker="o", ms=3, label=f"B={r['batch_size']} ({r['rule']})")
    a.axhline(target, color="grey", lw=0.8)
    a.set(xlabel="epoch", ylabel="validation reconstruction error (SSE / image)", yscale="log",
          title=f"to the target {target:g}")
    a.legend(fontsize=7)
    for rule, marker in (("linear", "o"), ("sqrt", "s")):
        rs = [r for r in results if r["rule"] == rule and r["epochs_to_target"]]
        if rs:
            b.plot([r["batch_size"] for r in rs], [r["train_time_to_target_s"] for r in rs], marker=marker,
                   label=f"wall time, lr {rule}")
            for r in rs:
                b.annotate(f"{r['epochs_to_target']} ep", (r["batch_size"], r["train_time_to_target_s"]),
                           fontsize=7, xytext=(3, 3), textcoords="offset points")
    b.set(xlabel="batch size", ylabel="training time to target (s)", xscale="log",
          title="time (and epochs) to the target")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 200, 500, 1000])
    p.add_argument("--rules", nargs="+", choices=["linear", "sqrt"], default=["linear", "sqrt"])
    p.add_argument("--target", type=float, default=16.0)
    p.add_argument("--max-epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs/bench-batch-size")
    p.add_argument("--out", default="results/bench/batch_size.json")
    args = p.parse_args()
    version, start = code_version(), time.perf_counter()
    splits = load_splits(load_config(CONFIG).data, seed=args.seed)
    results = [run(b, rule, args, splits) for rule in args.rules for b in args.batch_sizes]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(results, args.target, out.with_suffix(".png"))
    device = "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads"
    out.write_text(json.dumps({
        "benchmark": "batch_size",
        "metrics": {"runs": results},
        "config": {"base": "configs/parzen/paper_parzen_aae.yaml", "target_val_recon_sse": args.target,
                   "max_epochs": args.max_epochs, "seed": args.seed, "rules": args.rules,
                   "paper_lr_at_batch_100": PAPER_LR},
        "provenance": {**version, "torch": torch.__version__, "device": device,
                       "peak_memory_mb": round(peak_memory_mb(torch.device(device.split(",")[0])), 1),
                       "wall_time_s": round(time.perf_counter() - start, 1),
                       "command": "python benchmarks/batch_size.py --batch-sizes "
                                  + " ".join(map(str, args.batch_sizes)) + " --rules " + " ".join(args.rules)
                                  + f" --target {args.target:g} --max-epochs {args.max_epochs} --seed {args.seed}"
                                  + f" --out {args.out}"},
    }, indent=2) + "\n")
    print(f"written to {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

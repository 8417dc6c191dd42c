"""Does the fast path learn the same model? fp32 against bf16 autocast on the paper's 8-D MNIST AAE.

For each seed, the model of ``configs/parzen/paper_parzen_aae.yaml`` (784-1000-1000-8, N(0, 5^2 I) prior,
the paper's SGD) is trained for ``--epochs`` epochs in fp32 and in bf16 (fp32 weights, bf16 matrix
products), from the same initial weights and data order. Reported from each run's metrics.json:
test reconstruction error, discriminator accuracies, code moments, encoder units alive, training
time and peak memory; then, per measure, the bf16 - fp32 difference for each seed beside the
fp32 difference between two seeds (the scale a precision difference is judged against).

    python benchmarks/equivalence.py [--epochs 5] [--seeds 0 1] [--out results/bench/equivalence.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from aaekit.config import load_config
from aaekit.run import code_version, train_run
from aaekit.train.trainer import cpu_has_bf16

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "parzen" / "paper_parzen_aae.yaml"
MEASURES = ["recon_sse", "d_acc_prior", "d_acc_codes", "code_mean", "code_std", "encoder_alive_units"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--runs", default="runs/bench-equivalence", help="folder for the training runs")
    p.add_argument("--out", default="results/bench/equivalence.json")
    args = p.parse_args()
    if not cpu_has_bf16() and not torch.cuda.is_available():
        raise SystemExit("this machine has no native bf16: the fast path is fp32 here, nothing to compare")
    version, start = code_version(), time.perf_counter()
    runs: dict[str, dict[str, dict]] = {}
    for seed in args.seeds:
        for prec in ("fp32", "bf16"):
            cfg = load_config(CONFIG, [f"seed={seed}", f"train.epochs={args.epochs}", f"train.precision={prec}",
                                       "train.progress=false", f"out_dir={args.runs}/{prec}/seed{seed}"])
            train_run(cfg, overwrite=True, command=f"benchmarks/equivalence.py ({prec}, seed {seed})")
            doc = json.loads((cfg.run_dir / "metrics.json").read_text())
            runs_device = doc["provenance"]["device"].rsplit(",", 1)[0]  # without the precision
            runs.setdefault(prec, {})[str(seed)] = {
                **{k: doc["metrics"][k] for k in MEASURES},
                "wall_time_s": doc["provenance"]["wall_time_s"],
                "peak_memory_mb": doc["provenance"]["peak_memory_mb"],
            }
            print(f"seed {seed} {prec}: " + ", ".join(f"{k} {v:.4g}" for k, v in runs[prec][str(seed)].items()),
                  flush=True)
    seeds = [str(s) for s in args.seeds]
    diff = {k: {s: runs["bf16"][s][k] - runs["fp32"][s][k] for s in seeds} for k in MEASURES}
    seed_spread = ({k: runs["fp32"][seeds[1]][k] - runs["fp32"][seeds[0]][k] for k in MEASURES}
                   if len(seeds) > 1 else None)
    speed = statistics.mean(runs["fp32"][s]["wall_time_s"] / runs["bf16"][s]["wall_time_s"] for s in seeds)
    for k in MEASURES:
        spread = f", fp32 seed {seeds[1]} - seed {seeds[0]} {seed_spread[k]:+.4g}" if seed_spread else ""
        print(f"{k}: bf16 - fp32 " + ", ".join(f"{v:+.4g}" for v in diff[k].values()) + spread)
    print(f"training time fp32 / bf16: {speed:.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "equivalence",
        "metrics": {"runs": runs, "bf16_minus_fp32": diff, "fp32_seed_difference": seed_spread,
                    "fp32_over_bf16_training_time": speed},
        "config": {"base": str(CONFIG.relative_to(CONFIG.parents[2])), "epochs": args.epochs,
                   "seeds": args.seeds, "split": "test"},
        "provenance": {**version, "torch": torch.__version__, "device": runs_device,
                       "wall_time_s": round(time.perf_counter() - start, 1),
                       "command": f"python benchmarks/equivalence.py --epochs {args.epochs} --seeds "
                                  + " ".join(seeds) + f" --out {args.out}"},
    }, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

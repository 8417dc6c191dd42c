"""Where a training step's time goes: torch.profiler over one epoch of aaekit's trainer on the
paper's MLP AAE (batch 100, three phases), after a warm-up epoch; prints the operators by own time
and the share of the matrix products, the weight/gradient casts and the optimizer; writes them
with their provenance to ``--out``.

    python benchmarks/profile_step.py [--samples 5000] [--precision bf16] [--out results/bench/profile_step.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from aaekit.models import build_model
from aaekit.run import code_version
from aaekit.train import Trainer
from throughput import images, paper_config

GROUPS = {"matrix products": ("aten::mm", "aten::addmm"), "casts (copy_)": ("aten::copy_",),
          "optimizer kernels": ("aten::_fused_sgd_", "aten::_fused_adam_")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--out", default="results/bench/profile_step.json")
    args = p.parse_args()
    version, start = code_version(), time.perf_counter()
    data, source = images(args.samples)
    cfg = paper_config(args.precision, Path("runs/bench-tmp"))
    torch.manual_seed(0)
    trainer = Trainer(build_model(cfg, 784, (28, 28)), cfg, data, None, "runs/bench-tmp")
    torch.set_flush_denormal(True)
    trainer._train_epoch()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer._train_epoch()
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=15))
    total = sum(e.self_cpu_time_total for e in events)
    steps = len(trainer.loader)
    print(f"{source}, {args.precision}, {torch.get_num_threads()} threads: {total / steps / 1e3:.1f} ms per step "
          f"(profiled; {steps} steps)")
    groups = {}
    for name, ops in GROUPS.items():
        t = sum(e.self_cpu_time_total for e in events if e.key in ops)
        groups[name] = {"share": t / total, "ms_per_step": t / steps / 1e3}
        print(f"  {name}: {t / total:.0%} ({t / steps / 1e3:.1f} ms per step)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "profile_step",
        "metrics": {"ms_per_step": total / steps / 1e3, "steps": steps, "groups": groups},
        "config": {"samples": args.samples, "data": source, "precision": args.precision, "batch_size": 100},
        "provenance": {**version, "torch": torch.__version__, "device": trainer.device_description,
                       "wall_time_s": round(time.perf_counter() - start, 1),
                       "command": f"python benchmarks/profile_step.py --samples {args.samples} "
                                  f"--precision {args.precision} --out {args.out}"},
    }, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

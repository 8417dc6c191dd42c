"""Where a training step's time goes: torch.profiler over one epoch of aaekit's trainer on the
paper's MLP AAE (batch 100, three phases), after a warm-up epoch; prints the operators by own time
and the share of the matrix products, the weight/gradient casts and the optimizer.

    python benchmarks/profile_step.py [--samples 5000] [--precision bf16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from aaekit.models import build_model
from aaekit.train import Trainer
from throughput import images, paper_config

GROUPS = {"matrix products": ("aten::mm", "aten::addmm"), "casts (copy_)": ("aten::copy_",),
          "optimizer kernels": ("aten::_fused_sgd_", "aten::_fused_adam_")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    args = p.parse_args()
    data, source = images(args.samples)
    cfg = paper_config(args.precision, Path("runs/bench-tmp"))
    torch.manual_seed(0)
    trainer = Trainer(build_model(cfg, 784), cfg, data, None, "runs/bench-tmp")
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
    for name, ops in GROUPS.items():
        t = sum(e.self_cpu_time_total for e in events if e.key in ops)
        print(f"  {name}: {t / total:.0%} ({t / steps / 1e3:.1f} ms per step)")


if __name__ == "__main__":
    main()

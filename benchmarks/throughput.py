"""Training throughput of aaekit's trainer against a minimal hand-written PyTorch AAE loop.

Both train the paper's MLP AAE (784-1000-1000-8 encoder, its mirror as decoder, a 1000-1000
discriminator, batch 100, the paper's three phases and SGD settings) on the same MNIST images, in
fp32 and in bf16 autocast, in one run. Each measurement is one pass over ``--samples`` images after a
warm-up pass; rounds alternate between the two loops and the median is reported.

    python benchmarks/throughput.py [--samples 20000] [--rounds 3] [--out results/bench/throughput.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from aaekit.config import Config, from_dict
from aaekit.data import ArrayDataset, DataError, load_splits
from aaekit.models import build_model
from aaekit.run import code_version
from aaekit.train import Trainer
from aaekit.train.trainer import cpu_has_bf16


def cpu_name() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "cpu"
    return f"{model}, {torch.get_num_threads()} threads"


def paper_config(precision: str, out: Path) -> Config:
    return from_dict({
        "name": "bench", "out_dir": str(out),
        "model": {"kind": "aae", "code_dim": 8},
        "prior": {"kind": "gaussian", "std": 5.0},
        "train": {"epochs": 1, "batch_size": 100, "precision": precision, "progress": False,
                  "device": "cpu"},
    })


def images(samples: int) -> tuple[ArrayDataset, str]:
    try:
        return load_splits(paper_config("fp32", Path("unused")).data).train.subset(
            torch.arange(samples)), "MNIST training images"
    except DataError:
        x = torch.randint(0, 256, (samples, 784), dtype=torch.uint8)
        return ArrayDataset(x, None, (28, 28)), "random uint8 images (MNIST not found)"


def time_trainer(data: ArrayDataset, precision: str, tmp: Path) -> float:
    """Samples/s of one epoch of Trainer's loop (all three phases, logging and the NaN guard)."""
    cfg = paper_config(precision, tmp)
    torch.manual_seed(0)
    trainer = Trainer(build_model(cfg, 784), cfg, data, None, tmp)
    torch.set_flush_denormal(cfg.train.flush_denormal)  # as Trainer.fit does
    try:
        trainer._train_epoch()  # warm-up
        start = time.perf_counter()
        trainer._train_epoch()
    finally:
        torch.set_flush_denormal(False)
    return len(data) / (time.perf_counter() - start)


def time_plain(data: ArrayDataset, bf16: bool) -> float:
    """Samples/s of the textbook loop: three nets, three SGD optimizers, three phases per batch."""
    torch.manual_seed(0)

    def mlp(a, b):
        return nn.Sequential(nn.Linear(a, 1000), nn.ReLU(), nn.Linear(1000, 1000), nn.ReLU(), nn.Linear(1000, b))

    enc, dec, disc = mlp(784, 8), mlp(8, 784), mlp(8, 1)
    opt_ae = torch.optim.SGD([*enc.parameters(), *dec.parameters()], lr=0.01, momentum=0.9)
    opt_d = torch.optim.SGD(disc.parameters(), lr=0.1, momentum=0.1)
    opt_g = torch.optim.SGD(enc.parameters(), lr=0.1, momentum=0.1)
    x_all = data.x

    def epoch():
        perm = torch.randperm(len(x_all))
        for i in range(0, len(x_all), 100):
            x = x_all[perm[i : i + 100]].float() / 255
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = (torch.sigmoid(dec(enc(x))) - x).pow(2).sum(1).mean()
            opt_ae.zero_grad()
            loss.backward()
            opt_ae.step()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                with torch.no_grad():
                    fake = enc(x)
                real = torch.randn_like(fake) * 5
                d_real, d_fake = disc(real).float(), disc(fake).float()
                loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
                    F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                d = disc(enc(x)).float()
                loss = F.binary_cross_entropy_with_logits(d, torch.ones_like(d))
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()

    epoch()  # warm-up
    start = time.perf_counter()
    epoch()
    return len(x_all) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default="results/bench/throughput.json")
    args = p.parse_args()
    version = code_version()
    data, source = images(args.samples)
    precisions = ["fp32", "bf16"] if cpu_has_bf16() else ["fp32"]
    tmp = Path("runs/bench-tmp")
    runs: dict[str, list[float]] = {}
    start = time.perf_counter()
    for r in range(args.rounds):
        for prec in precisions:
            runs.setdefault(f"plain_{prec}", []).append(time_plain(data, prec == "bf16"))
            runs.setdefault(f"aaekit_{prec}", []).append(time_trainer(data, prec, tmp))
            print(f"round {r + 1}/{args.rounds} {prec}: plain {runs[f'plain_{prec}'][-1]:.0f}, "
                  f"aaekit {runs[f'aaekit_{prec}'][-1]:.0f} samples/s", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratios = {f"aaekit_over_plain_{p}": med[f"aaekit_{p}"] / med[f"plain_{p}"] for p in precisions}
    if "bf16" in precisions:
        ratios["aaekit_bf16_over_fp32"] = med["aaekit_bf16"] / med["aaekit_fp32"]
        ratios["plain_bf16_over_fp32"] = med["plain_bf16"] / med["plain_fp32"]
    print("median samples/s: " + ", ".join(f"{k} {v:.0f}" for k, v in med.items()))
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    doc = {
        "benchmark": "throughput",
        "metrics": {"samples_per_s": med, "ratios": ratios, "all_rounds": runs},
        "config": {"nets": "784-1000-1000-8 / mirror / 1000-1000-1", "batch_size": 100,
                   "phases": ["reconstruction", "discriminator", "generator"], "samples": args.samples,
                   "rounds": args.rounds, "data": source},
        "provenance": {**version, "torch": torch.__version__, "device": cpu_name(),
                       "wall_time_s": round(time.perf_counter() - start, 1),
                       "command": "python benchmarks/throughput.py " + " ".join(
                           f"--{k} {v}" for k, v in vars(args).items())},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

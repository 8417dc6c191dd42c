"""Seconds per MNIST epoch of the paper's AAE on this machine's device, against the goal of the
paper's 5000 epochs in 20 minutes on one GPU (0.24 s per epoch).

The trainer (three phases per batch of 100, the data resident on the device, logging and the NaN
guard; the per-epoch validation pass and checkpoint timed apart, once, for one seed) trains the
784-1000-1000-8 AAE of ``configs/parzen/paper_parzen_aae.yaml`` on the 50,000 training images,
for each precision and compile mode asked, its steps eager or one CUDA graph each
(``train.cuda_graph``, aaekit.train.graph), or K seeds of it trained together as one batched
computation (``train.seeds``, aaekit.train.seeds: the seconds of an epoch of all K, against the
goal of five seeds at 0.5 s per epoch).
Each setting runs ``--epochs`` epochs after one warm-up epoch (which pays any compile
time and CUDA-graph capture); the median epoch is reported with the projection for 5000 epochs.
Peak memory: torch's CUDA allocations of the setting on a GPU; on CPU the process's resident
high-water mark so far (so the largest setting's).

    python benchmarks/epochs.py [--device auto] [--settings fp32:none bf16:none fp32:none:graph fp32:none:eager:5]
        [--epochs 3] [--out results/bench/epochs.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from aaekit.config import load_config
from aaekit.data import load_splits
from aaekit.models import build_model
from aaekit.run import code_version
from aaekit.train import Trainer
from aaekit.train.trainer import denormals_flushed, peak_memory_mb

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "parzen" / "paper_parzen_aae.yaml"
GOAL_S_PER_EPOCH = 20 * 60 / 5000
# and five seeds trained together in 42 minutes (issue 18): 0.5 s per epoch of all five
GOAL_5_SEEDS_S_PER_EPOCH = 0.5


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_times(precision: str, compile: str, graph: bool, device: str, epochs: int, splits
                ) -> tuple[list[float], Trainer, dict, dict, bool]:
    cfg = load_config(CONFIG, [f"train.precision={precision}", f"train.compile={compile}",
                               f"train.cuda_graph={str(graph).lower()}", f"train.device={device}",
                               "train.progress=false", "out_dir=runs/bench-epochs"])
    torch.manual_seed(0)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    model = build_model(cfg, splits.train.dim, splits.train.image_shape)
    trainer = Trainer(model, cfg, splits.train, splits.val, cfg.run_dir)
    if trainer.device.type == "cpu":
        torch.set_flush_denormal(cfg.train.flush_denormal)  # as Trainer.fit does
    trainer.prepare_graph()  # as Trainer.fit does: a CUDA graph where asked and possible
    times = []
    try:
        for i in range(epochs + 1):
            sync(trainer.device)
            start = time.perf_counter()
            row = trainer._train_epoch()  # ends with a loss read: the device has finished
            trainer.epoch += 1
            if i:  # the first epoch is the warm-up
                times.append(time.perf_counter() - start)
        extra = per_epoch_extras(trainer)
    finally:
        torch.set_flush_denormal(False)
    captured = trainer.graph is not None and trainer.graph.graph is not None
    return times, trainer, {k: v for k, v in row.items() if k.endswith("_loss")}, extra, captured


def per_epoch_extras(trainer: Trainer) -> dict[str, float]:
    """The seconds of what a run adds to each epoch's steps by default (train.val_every and
    train.checkpoint_every: 1): the validation pass on the 10,000 validation images, and the checkpoint."""
    sync(trainer.device)
    start = time.perf_counter()
    trainer.model.evaluate(trainer.val_x, trainer.val_y)
    sync(trainer.device)
    middle = time.perf_counter()
    trainer.save()
    end = time.perf_counter()
    trainer.checkpoint_path.unlink(missing_ok=True)
    return {"validation_s": middle - start, "checkpoint_s": end - middle}


def stacked_epoch_times(precision: str, compile: str, graph: bool, k: int, device: str, epochs: int, splits
                        ) -> tuple[list[float], Trainer, dict, dict, bool]:
    """As :func:`epoch_times` for ``k`` seeds trained together as one batched computation
    (``train.seeds``, aaekit.train.seeds): the seconds of an epoch of all ``k``."""
    from aaekit.run import seed_stack

    cfg = load_config(CONFIG, [f"train.precision={precision}", f"train.compile={compile}", f"train.device={device}",
                               f"train.cuda_graph={str(graph).lower()}", "train.progress=false",
                               "out_dir=runs/bench-epochs",
                               f"train.seeds=[{', '.join(map(str, range(k)))}]"])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    stack, _ = seed_stack(cfg, splits)
    trainer = stack.trainers[0]
    stack.gather()
    stack.prepare_graph()  # as SeedStack.fit does: one CUDA graph per step of all K where asked and possible
    times = []
    with denormals_flushed(trainer.device, cfg.train.flush_denormal):  # as SeedStack.fit
        for i in range(epochs + 1):
            sync(trainer.device)
            start = time.perf_counter()
            stack._train_epoch()
            losses = stack._check_losses()  # a loss read: the device has finished
            for t in stack.trainers:
                t.epoch += 1
            if i:
                times.append(time.perf_counter() - start)
    captured = stack.graph is not None and stack.graph.graph is not None
    return times, trainer, {f"{name}_loss": v for name, v in losses.items()}, {}, captured


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--settings", nargs="+", default=["fp32:none", "bf16:none", "bf16:default"],
                   help="precision:compile[:graph|eager[:K]] (compile: none, default, "
                        "max-autotune; graph: each step one CUDA graph, else eager; K: that many seeds trained "
                        "together as one batched computation, train.seeds)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default="results/bench/epochs.json")
    args = p.parse_args()
    settings = {}  # each setting's precision, compile mode, eager or graph
    for setting in args.settings:
        fields = setting.split(":")
        settings[setting] = (fields[0], fields[1] if len(fields) > 1 else "none",
                             fields[2] if len(fields) > 2 else "eager", fields[3] if len(fields) > 3 else "1")
        if settings[setting][2] not in ("graph", "eager"):
            p.error(f"setting {setting!r}: the third field is graph or eager, not {settings[setting][2]!r}")
        if not settings[setting][3].isdigit() or int(settings[setting][3]) < 1 or len(fields) > 4:
            p.error(f"setting {setting!r}: the fourth field is a number of seeds (1 or more), and there is no fifth")
    version, start = code_version(), time.perf_counter()
    splits = load_splits(load_config(CONFIG).data)
    results, device_name = {}, None
    for setting, (precision, compile, mode, seeds) in settings.items():
        k = int(seeds)
        if k > 1:
            times, trainer, losses, extra, graph = stacked_epoch_times(
                precision, compile, mode == "graph", k, args.device, args.epochs, splits)
        else:
            times, trainer, losses, extra, graph = epoch_times(
                precision, compile, mode == "graph", args.device, args.epochs, splits)
        device_name = trainer.device_description
        med = statistics.median(times)
        results[setting] = {"s_per_epoch": med, "seeds_together": k, "s_per_epoch_per_seed": med / k,
                            "all_epochs_s": times, "epochs_per_s": 1 / med,
                            "samples_per_s": k * len(splits.train) / med, "hours_for_5000_epochs": 5000 * med / 3600,
                            "meets_goal": med <= GOAL_S_PER_EPOCH if k == 1 else
                            (med <= GOAL_5_SEEDS_S_PER_EPOCH if k == 5 else None), "cuda_graph": graph,
                            # the last epoch's mean losses: each setting trains the same model alike
                            "last_epoch_losses": losses,
                            "peak_memory_mb": round(peak_memory_mb(trainer.device), 1), **extra}
        if extra:  # what a run with the defaults takes per epoch, and the share val_every/checkpoint_every save
            results[setting]["s_per_epoch_validating_and_checkpointing"] = med + sum(extra.values())
        goal = {1: f" (goal {GOAL_S_PER_EPOCH:.2f} s/epoch)", 5: f" (goal {GOAL_5_SEEDS_S_PER_EPOCH:.2f} s/epoch)"}
        print(f"{setting} on {device_name}: {med:.3f} s/epoch" + (f" for {k} seeds" if k > 1 else "")
              + f", 5000 epochs in {results[setting]['hours_for_5000_epochs']:.2f} h{goal.get(k, '')}"
              + ("; per epoch also: validation {validation_s:.3f} s, checkpoint {checkpoint_s:.3f} s".format(**extra)
                 if extra else ""), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "epochs",
        "metrics": results,
        "config": {"base": "configs/parzen/paper_parzen_aae.yaml", "train_images": len(splits.train), "batch_size": 100,
                   "goal_s_per_epoch": GOAL_S_PER_EPOCH, "goal_5_seeds_s_per_epoch": GOAL_5_SEEDS_S_PER_EPOCH,
                   "epochs_timed": args.epochs},
        "provenance": {**version, "torch": torch.__version__, "device": device_name,
                       "wall_time_s": round(time.perf_counter() - start, 1),
                       "command": f"python benchmarks/epochs.py --device {args.device} --settings "
                                  + " ".join(args.settings) + f" --epochs {args.epochs} --out {args.out}"},
    }, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

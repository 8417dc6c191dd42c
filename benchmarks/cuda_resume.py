"""Is resume exact on a GPU? Runs stopped and resumed, or killed and resumed, against one uninterrupted run.

For each precision (fp32, bf16) an experiment (``--config``, by default configs/demo.yaml: the
paper's 784-1000-1000-2 nets, mixture prior) trains ``--epochs`` epochs on ``--subset`` MNIST
training images three ways, each in its own process through the CLI: uninterrupted; stopped after
``--stop`` epochs and resumed with ``--resume``; and killed with SIGKILL part-way through epoch
``--stop + 1`` (the moment is timed, so it falls wherever it falls), then resumed. Reported:
whether the final weights, optimizer state and per-epoch log of each equal the uninterrupted
run's, bit for bit, and their largest difference.

    python benchmarks/cuda_resume.py [--config configs/demo.yaml] [--epochs 4] [--stop 2]
        [--out results/bench/cuda_resume.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from aaekit.run import code_version
from aaekit.train.checkpoint import load_checkpoint
from aaekit.train.trainer import describe_device, resolve_device

ROOT = Path(__file__).resolve().parents[1]


def train(out: Path, epochs: int, args, resume: bool = False, wait: bool = True):
    cmd = [sys.executable, "-m", "aaekit", "train", str(ROOT / args.config), "--out", str(out),
           "--set", f"train.epochs={epochs}", "--set", f"data.train_subset={args.subset}",
           "--set", f"train.device={args.device}", "--set", f"train.precision={args.precision}",
           "--set", "train.progress=false", *(["--resume"] if resume else ["--overwrite"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait:
        return proc
    text, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{text[-3000:]}")
    return text


def rows(run: Path) -> list[dict]:
    with open(run / "log.csv") as f:
        return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in csv.DictReader(f)]


def compare(a: Path, b: Path) -> dict:
    sa, sb = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    weights = [(sa["model"][k].float() - sb["model"][k].float()).abs().max().item() for k in sa["model"]]
    moments = []
    for phase, opt in sa["optimizers"].items():
        for i, st in opt["state"].items():
            for k, v in st.items():
                if isinstance(v, torch.Tensor) and v.is_floating_point():
                    moments.append((v - sb["optimizers"][phase]["state"][i][k]).abs().max().item())
    return {"epochs": [sa["epoch"], sb["epoch"]], "weights_identical": max(weights) == 0,
            "max_abs_weight_diff": max(weights), "optimizer_state_identical": max(moments) == 0,
            "log_identical": rows(a) == rows(b)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--config", default="configs/demo.yaml", help="the experiment, relative to the repository")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--stop", type=int, default=2)
    p.add_argument("--subset", type=int, default=10000, help="MNIST training images")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--runs", default="runs/bench-cuda-resume")
    p.add_argument("--commit", help="the git commit of this copy of the code, where it was copied to another "
                                    "machine without its own history (recorded as given, beside what git says there)")
    p.add_argument("--out", default="results/bench/cuda_resume.json")
    args = p.parse_args()
    device, start = resolve_device(args.device), time.perf_counter()
    runs, result = Path(args.runs), {}
    for prec in args.precisions:
        args.precision = prec
        base = runs / prec
        train(base / "straight", args.epochs, args)
        train(base / "stopped", args.stop, args)
        train(base / "stopped", args.epochs, args, resume=True)
        # killed: wait for epoch `stop`'s log row, then kill part-way through the next epoch
        proc = train(base / "killed", args.epochs, args, wait=False)
        log = base / "killed" / "log.csv"
        while not log.is_file() or len(log.read_text().splitlines()) < args.stop + 1:
            if proc.poll() is not None:
                raise SystemExit(f"the run to kill ended early:\n{proc.stdout.read()[-3000:]}")
            time.sleep(0.05)
        with open(log) as f:
            first_epoch = float(next(csv.DictReader(f))["epoch_time_s"])
        time.sleep(first_epoch / 2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = load_checkpoint(base / "killed" / "checkpoint.pt")["epoch"]
        resumed = train(base / "killed", args.epochs, args, resume=True)
        result[prec] = {
            "stopped_and_resumed": compare(base / "straight", base / "stopped"),
            "killed_and_resumed": {**compare(base / "straight", base / "killed"),
                                   "checkpoint_epoch_when_killed": killed_at,
                                   "lock_taken_over": "took over the lock" in resumed},
        }
        print(prec, json.dumps(result[prec], indent=1), flush=True)
    version = code_version()
    if args.commit:  # a copy of the tree on another machine: its .git (if any) need not be the code's
        version = {"git_commit": args.commit, "git_commit_source": "given with --commit", "git_seen_there": version}
    doc = {"benchmark": "cuda_resume", "results": result,
           "setup": {"config": args.config, "subset": args.subset, "epochs": args.epochs, "stop": args.stop},
           "provenance": {**version, "torch": torch.__version__,
                          "device": describe_device(device, False).rsplit(",", 1)[0],  # both precisions ran
                          "wall_time_s": round(time.perf_counter() - start, 1),
                          "command": " ".join(["python", *sys.argv])}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

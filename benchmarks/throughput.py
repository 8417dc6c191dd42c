"""Training throughput of aaekit's trainer against pythae's and a minimal hand-written loop.

All train the paper's MLP AAE (784-1000-1000-8 encoder, its mirror as decoder, a 1000-1000
discriminator, batch 100, the paper's SGD settings) on the same MNIST images, in one run:

- ``pythae_fp32``: pythae 0.1.2's ``AdversarialTrainer`` with those nets (optional: the ``bench``
  extra, ``pip install -e ".[bench]"``). It takes one joint step per batch (two optimizers, one
  forward), not the paper's three phases, so it does less work per batch than the others.
- ``plain_fp32`` / ``plain_bf16``: the textbook three-phase loop, ~40 lines of PyTorch.
- ``aaekit_fp32`` / ``aaekit_bf16``: ``aaekit.train.Trainer`` (three phases, logging, NaN guard);
  bf16 is its default on CPUs with native bf16. ``aaekit_bf16_compiled``: the same with
  ``train.compile: default`` (torch.compile'd nets; compile time is paid in the warm-up pass).

Each measurement is one pass over ``--samples`` images after a warm-up pass; rounds alternate the
contenders and the median is reported, with ratios to pythae. Also measured in the same run: the
bf16 matrix-multiply rate of this machine (large square products, and the 100x1000x1000 products
of a step), the share of it the trainer reaches, and the peak memory of each contender (its own
process, the timed epoch included; "idle" is such a process that only loads torch and the images).

    python benchmarks/throughput.py [--samples 20000] [--rounds 3] [--out results/bench/throughput.json]

``--nets`` measures instead the six nets of the CNN ablation (``configs/cnn_ablation/<nets>/parzen.yaml``:
the same 8-D AAE with the paper's MLP, a classic CNN, and the CNN with each DCGAN change and all
three) in aaekit's trainer at its default precision, with ratios to the MLP
(``results/bench/throughput_nets.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from aaekit.config import Config, from_dict, load_config
from aaekit.data import ArrayDataset, DataError, load_splits
from aaekit.models import build_model
from aaekit.run import code_version
from aaekit.train import Trainer
from aaekit.train.trainer import cpu_has_bf16, peak_memory_mb

ENCODER, DECODER, DISCRIMINATOR = [784, 1000, 1000, 8], [8, 1000, 1000, 784], [8, 1000, 1000, 1]
BATCH = 100


def cpu_name() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "cpu"
    return f"{model}, {torch.get_num_threads()} threads"


def step_flops_per_sample() -> dict[str, float]:
    """Multiply-add FLOPs per image of one three-phase step, counted from the layer sizes: as the
    paper's algorithm reads (the encoder run in each of the three phases) and as aaekit runs it
    (the generator phase reuses the discriminator phase's codes)."""

    def mm(dims, skip_first_input_grad=False):
        layers = list(zip(dims[:-1], dims[1:], strict=True))
        fwd = sum(i * o for i, o in layers)
        igrad = sum(i * o for i, o in layers[1 if skip_first_input_grad else 0 :])
        return fwd, igrad

    enc_f, enc_i = mm(ENCODER, True)
    dec_f, dec_i = mm(DECODER)
    dis_f, dis_i_nofirst = mm(DISCRIMINATOR, True)
    dis_i = mm(DISCRIMINATOR)[1]
    recon = 2 * enc_f + 2 * dec_f + dec_i + enc_i  # forward, weight grads, input grads
    disc = enc_f + 2 * (2 * dis_f + dis_i_nofirst)  # codes; prior samples + codes through D
    gen = dis_f + dis_i + enc_f + enc_i  # D forward + input grads; encoder weight + input grads
    return {"paper_algorithm": 2.0 * (recon + disc + gen + enc_f), "aaekit_executes": 2.0 * (recon + disc + gen)}


def matmul_gflops(m: int, k: int, n: int, dtype=torch.bfloat16, seconds: float = 2.0) -> float:
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start) / 1e9


def paper_config(precision: str, out: Path) -> Config:
    return from_dict({
        "name": "bench", "out_dir": str(out),
        "model": {"kind": "aae", "code_dim": 8},
        "prior": {"kind": "gaussian", "std": 5.0},
        "train": {"epochs": 1, "batch_size": BATCH, "precision": precision, "progress": False,
                  "device": "cpu"},
    })


def images(samples: int) -> tuple[ArrayDataset, str]:
    try:
        return load_splits(paper_config("fp32", Path("unused")).data).train.subset(
            torch.arange(samples)), "MNIST training images"
    except DataError:
        x = torch.randint(0, 256, (samples, 784), dtype=torch.uint8)
        return ArrayDataset(x, None, (28, 28)), "random uint8 images (MNIST not found)"


def mlp(a: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(a, 1000), nn.ReLU(), nn.Linear(1000, 1000), nn.ReLU(), nn.Linear(1000, b))


def time_epoch(cfg: Config, data: ArrayDataset) -> float:
    """Samples/s of one epoch of Trainer's loop on ``cfg``'s model (all phases, logging and the NaN
    guard); the warm-up epoch before it also pays any compile time."""
    torch.manual_seed(0)
    trainer = Trainer(build_model(cfg, 784, (28, 28)), cfg, data, None, cfg.run_dir)
    torch.set_flush_denormal(cfg.train.flush_denormal)  # as Trainer.fit does
    try:
        trainer._train_epoch()  # warm-up
        start = time.perf_counter()
        trainer._train_epoch()
    finally:
        torch.set_flush_denormal(False)
    return len(data) / (time.perf_counter() - start)


def time_trainer(data: ArrayDataset, precision: str, compile: str = "none") -> float:
    """Samples/s of aaekit's trainer on the paper's MLP AAE."""
    cfg = paper_config(precision, Path("runs/bench-tmp"))
    cfg.train.compile = compile
    return time_epoch(cfg, data)


NETS = ("mlp", "cnn", "cnn_all_conv", "cnn_no_fc", "cnn_batchnorm", "dcgan")
ABLATION = Path(__file__).resolve().parents[1] / "configs" / "cnn_ablation"


def time_nets(data: ArrayDataset, nets: str) -> float:
    """Samples/s of aaekit's trainer on the CNN ablation's ``nets`` (its parzen config)."""
    return time_epoch(load_config(ABLATION / nets / "parzen.yaml", [
        "out_dir=runs/bench-tmp", "train.epochs=1", "train.progress=false", "train.device=cpu"]), data)


def time_plain(data: ArrayDataset, bf16: bool) -> float:
    """Samples/s of the textbook loop: three nets, three SGD optimizers, three phases per batch."""
    torch.manual_seed(0)
    enc, dec, disc = mlp(784, 8), mlp(8, 784), mlp(8, 1)
    opt_ae = torch.optim.SGD([*enc.parameters(), *dec.parameters()], lr=0.01, momentum=0.9)
    opt_d = torch.optim.SGD(disc.parameters(), lr=0.1, momentum=0.1)
    opt_g = torch.optim.SGD(enc.parameters(), lr=0.1, momentum=0.1)
    x_all = data.x

    def epoch():
        perm = torch.randperm(len(x_all))
        for i in range(0, len(x_all), BATCH):
            x = x_all[perm[i : i + BATCH]].float() / 255
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


def time_pythae(data: ArrayDataset) -> float:
    """Samples/s of one epoch of pythae's AdversarialTrainer.train_step on the same nets and batch."""
    import logging

    from pythae.data.datasets import BaseDataset
    from pythae.models import Adversarial_AE, Adversarial_AE_Config
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseDiscriminator, BaseEncoder
    from pythae.trainers import AdversarialTrainer, AdversarialTrainerConfig

    logging.getLogger("pythae").setLevel(logging.WARNING)

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = mlp(784, 8)

        def forward(self, x):  # a deterministic encoder: pythae wants a log-variance, unused here
            z = self.net(x.reshape(len(x), -1))
            return ModelOutput(embedding=z, log_covariance=torch.zeros_like(z))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = mlp(8, 784)

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    class Discriminator(BaseDiscriminator):
        def __init__(self):
            super().__init__()
            self.net = mlp(8, 1)

        def forward(self, z):
            return ModelOutput(embedding=torch.sigmoid(self.net(z)))

    torch.manual_seed(0)
    cfg = Adversarial_AE_Config(input_dim=(784,), latent_dim=8, reconstruction_loss="mse",
                                deterministic_posterior=True)
    model = Adversarial_AE(cfg, encoder=Encoder(), decoder=Decoder(), discriminator=Discriminator())
    x = data.x.float() / 255
    with tempfile.TemporaryDirectory() as out:
        tc = AdversarialTrainerConfig(
            output_dir=out, per_device_train_batch_size=BATCH, num_epochs=1, no_cuda=True,
            autoencoder_optimizer_cls="SGD", autoencoder_optimizer_params={"momentum": 0.9},
            autoencoder_learning_rate=0.01, discriminator_optimizer_cls="SGD",
            discriminator_optimizer_params={"momentum": 0.1}, discriminator_learning_rate=0.1)
        trainer = AdversarialTrainer(model, BaseDataset(x, torch.zeros(len(x))), training_config=tc)
        trainer.prepare_training()
        trainer.callbacks = []  # its progress bar: not part of the measured work
        trainer.callback_handler.callbacks = []
        trainer.train_step(1)  # warm-up
        start = time.perf_counter()
        trainer.train_step(1)
    return len(x) / (time.perf_counter() - start)


def has_pythae() -> bool:
    try:
        import pythae  # noqa: F401
    except ImportError:
        return False
    return True


CONTENDERS = {
    "pythae_fp32": lambda d: time_pythae(d),
    "plain_fp32": lambda d: time_plain(d, False),
    "plain_bf16": lambda d: time_plain(d, True),
    "aaekit_fp32": lambda d: time_trainer(d, "fp32"),
    "aaekit_bf16": lambda d: time_trainer(d, "bf16"),
    "aaekit_bf16_compiled": lambda d: time_trainer(d, "bf16", "default"),
}
NET_CONTENDERS = {f"aaekit_{n}": (lambda d, n=n: time_nets(d, n)) for n in NETS}


def peak_memory(name: str, images_file: Path) -> float:
    """Peak resident memory (MiB) of a fresh process that loads the benchmark's images (saved by
    the parent, so no process reads all of MNIST) and times ``name`` once; "idle" only loads."""
    out = subprocess.run([sys.executable, __file__, "--probe", name, "--images", str(images_file)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def measure(contenders: dict, names: list[str], data: ArrayDataset, rounds: int) -> dict[str, list[float]]:
    """Samples/s of each named contender, ``rounds`` times, the contenders alternating in each round."""
    runs: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names:
            runs[n].append(contenders[n](data))
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {runs[n][-1]:.0f}" for n in names)
              + " samples/s", flush=True)
    return runs


def peak_memories(names: list[str], data: ArrayDataset) -> dict[str, float]:
    """Peak memory of each contender in its own process, and of one that only loads ("idle")."""
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(data.x, Path(tmp) / "images.pt")
        return {n: peak_memory(n, Path(tmp) / "images.pt") for n in ["idle", *names]}


def write(doc: dict, out: str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"written to {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=None, help="default: results/bench/throughput.json (--nets: throughput_nets.json)")
    p.add_argument("--nets", action="store_true", help="the six nets of the CNN ablation instead")
    p.add_argument("--probe", choices=[*CONTENDERS, *NET_CONTENDERS, "idle"], help=argparse.SUPPRESS)
    p.add_argument("--images", help=argparse.SUPPRESS)
    args = p.parse_args()
    everyone = {**CONTENDERS, **NET_CONTENDERS}
    if args.probe:
        data = ArrayDataset(torch.load(args.images, weights_only=True), None, (28, 28))
        if args.probe != "idle":
            everyone[args.probe](data)
        print(json.dumps({"peak_rss_mb": peak_memory_mb(torch.device("cpu"))}))
        return
    if args.nets:
        return main_nets(args)
    args.out = args.out or "results/bench/throughput.json"
    data, source = images(args.samples)
    version = code_version()
    names = [n for n in CONTENDERS if (has_pythae() or not n.startswith("pythae"))
             and (cpu_has_bf16() or "bf16" not in n)]
    if not has_pythae():
        print('pythae is not installed (pip install -e ".[bench]"): measuring without it', flush=True)
    start = time.perf_counter()
    peak = {"bf16_2048_cube": matmul_gflops(2048, 2048, 2048), "bf16_100x1000x1000": matmul_gflops(100, 1000, 1000),
            "fp32_2048_cube": matmul_gflops(2048, 2048, 2048, torch.float32)}
    print("matmul GFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in peak.items()), flush=True)
    runs = measure(CONTENDERS, names, data, args.rounds)
    med = {k: statistics.median(v) for k, v in runs.items()}
    base = "pythae_fp32" if "pythae_fp32" in med else "plain_fp32"
    ratios = {f"{n}_over_{base}": med[n] / med[base] for n in names if n != base}
    flops = step_flops_per_sample()
    best = max((n for n in names if n.startswith("aaekit")), key=med.get)
    share = {"trainer": best, "gflops": med[best] * flops["aaekit_executes"] / 1e9}
    share.update({f"of_{k}": share["gflops"] / v for k, v in peak.items() if k.startswith("bf16")})
    memory = peak_memories(names, data)
    print("median samples/s: " + ", ".join(f"{k} {v:.0f}" for k, v in med.items()))
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print(f"{best}: {share['gflops']:.0f} GFLOP/s, " + ", ".join(
        f"{v:.0%} {k}" for k, v in share.items() if k.startswith("of_")))
    print("peak memory (MiB; idle = torch and the images only): "
          + ", ".join(f"{k} {v:.0f}" for k, v in memory.items()))
    doc = {
        "benchmark": "throughput",
        "metrics": {"samples_per_s": med, "ratios": ratios, "matmul_gflops": peak, "share_of_peak": share,
                    "step_flops_per_sample": flops, "peak_memory_mb": memory, "all_rounds": runs},
        "config": {"nets": "784-1000-1000-8 / mirror / 1000-1000-1", "batch_size": BATCH,
                   "phases": ["reconstruction", "discriminator", "generator"], "samples": args.samples,
                   "rounds": args.rounds, "data": source,
                   "note": "pythae takes one joint step per batch, the others the paper's three phases"},
        "provenance": {**version, "torch": torch.__version__, "device": cpu_name(),
                       "wall_time_s": round(time.perf_counter() - start, 1),
                       "command": "python benchmarks/throughput.py " + " ".join(
                           f"--{k} {v}" for k, v in vars(args).items() if v is not None)},
    }
    write(doc, args.out)


def main_nets(args: argparse.Namespace) -> None:
    """--nets: samples/s of the CNN ablation's six nets, rounds alternating them, medians and
    ratios to the MLP, and each one's peak memory."""
    args.out = args.out or "results/bench/throughput_nets.json"
    data, source = images(args.samples)
    version, start = code_version(), time.perf_counter()
    runs = measure(NET_CONTENDERS, list(NET_CONTENDERS), data, args.rounds)
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratios = {f"{n}_over_aaekit_mlp": med[n] / med["aaekit_mlp"] for n in med if n != "aaekit_mlp"}
    memory = peak_memories(list(NET_CONTENDERS), data)
    print("median samples/s: " + ", ".join(f"{k} {v:.0f}" for k, v in med.items()))
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    doc = {
        "benchmark": "throughput_nets",
        "metrics": {"samples_per_s": med, "ratios": ratios, "peak_memory_mb": memory, "all_rounds": runs},
        "config": {"configs": [f"configs/cnn_ablation/{n}/parzen.yaml" for n in NETS], "batch_size": BATCH,
                   "precision": "the trainer's default (bf16 where the CPU has it)", "samples": args.samples,
                   "rounds": args.rounds, "data": source},
        "provenance": {**version, "torch": torch.__version__, "device": cpu_name(),
                       "wall_time_s": round(time.perf_counter() - start, 1),
                       "command": "python benchmarks/throughput.py --nets " + " ".join(
                           f"--{k} {v}" for k, v in vars(args).items() if v is not None and k != "nets")},
    }
    write(doc, args.out)


if __name__ == "__main__":
    main()

"""Command line: ``aaekit train | eval | sample | compare | report``. Bad input gets one line, no traceback."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import yaml

from aaekit.config import ConfigError, load_config
from aaekit.data import DataError
from aaekit.train import CheckpointError, TrainingDiverged
from aaekit.train.checkpoint import CheckpointWriteError

log = logging.getLogger("aaekit")
EXPECTED = (ConfigError, DataError, CheckpointError, TrainingDiverged)
# what the user's input caused (exit 2), as against what happened while running (exit 1)
USAGE = (ConfigError, DataError, CheckpointError)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from aaekit.run import code_version

    try:
        v = version("aaekit")
    except PackageNotFoundError:  # run from source (PYTHONPATH=src)
        from aaekit import __version__ as v
    commit = code_version()["git_commit"]
    return f"aaekit {v}" + (f" (git {commit[:12]})" if commit != "unknown" else "")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``aaekit train: error: ...``), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _VersionAction(argparse.Action):
    """--version, looked up only when asked (it runs git)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def _out_file(out: str, allowed: list[str], what: str) -> Path:
    """``out`` checked before any work: an extension that can be written, not a folder."""
    path = Path(out)
    ext = path.suffix.lower().lstrip(".")
    if ext not in allowed:
        raise ConfigError(f"--out {out}: cannot write {what} as {('.' + ext) if ext else 'a file without extension'}; "
                          f"use one of {', '.join('.' + a for a in allowed)}")
    if path.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name")
    return path


def _train(args: argparse.Namespace) -> int:
    from aaekit.run import train_run

    overrides = list(args.set or [])
    if args.data_dir:
        overrides.append(f"data.data_dir={args.data_dir}")
    if args.out:
        overrides.append(f"out_dir={args.out}")
    cfg = load_config(args.config, overrides)
    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite exclude each other")
    result = train_run(cfg, resume=args.resume, command=" ".join(["aaekit", *sys.argv[1:]]),
                       overwrite=args.overwrite)
    for run in result.get("runs", [result]):  # train.seeds: each seed's run
        _report_run(run)
    return 0


def _report_run(result: dict) -> None:
    m = result["metrics"]
    if m is None:  # a torchrun process other than 0: process 0 evaluates and reports
        return
    print(f"test reconstruction error: {m['recon_sse']:.3f} per image ({m['recon_mse']:.5f} per pixel)")
    if "test_error_pct" in m:
        val = f" (validation {m['val_error_pct']:.2f} %)" if "val_error_pct" in m else ""
        print(f"test classification error: {m['test_error_pct']:.2f} %{val}")
    if "cluster_error_pct" in m:
        print(f"test clustering error: {m['cluster_error_pct']:.2f} % (clusters named on validation), "
              f"NMI {m['nmi']:.3f}, ARI {m['ari']:.3f}")
    print(f"results written to {result['run_dir']}/ (metrics.json, figures, log.csv, checkpoint.pt)")


def _eval(args: argparse.Namespace) -> int:
    from aaekit.run import eval_run, parzen_run

    if args.parzen:
        if args.n_samples < 2:
            raise ConfigError(f"--n-samples must be at least 2, got {args.n_samples}")
        result = parzen_run(args.run, args.n_samples, args.sample_seed, args.device, _sigmas(args.sigmas),
                            data_dir=args.data_dir)
        _print_parzen(result, args.run)
        return 0
    metrics = eval_run(args.run, args.split, args.device, args.figures, args.data_dir)
    print(json.dumps(metrics, indent=2))
    return 0


def _sigmas(text: str | None):
    from aaekit.metrics.parzen import DEFAULT_SIGMAS

    if not text:
        return DEFAULT_SIGMAS
    try:
        sigmas = [float(s) for s in text.split(",")]
    except ValueError:
        raise ConfigError(f"--sigmas expects comma-separated numbers, got {text!r}") from None
    if not sigmas or not all(0 < s < float("inf") for s in sigmas):
        raise ConfigError(f"--sigmas must be positive numbers, got {text!r}")
    return sigmas


def _print_parzen(result: dict, where) -> None:
    p = result["parzen"]
    print(f"Parzen log-likelihood on test: {p['test_ll']:.2f} ± {p['test_ll_se']:.2f} nats "
          f"(sigma {p['sigma']:.4g} chosen on val; {result['n_samples']} samples; "
          f"{result['parzen_time_s']:.0f} s)")
    if p["sigma_on_grid_edge"]:
        print("warning: the chosen sigma is at the edge of the grid; widen it with --sigmas", file=sys.stderr)
    if "frechet_distance" in result:
        print(f"Fréchet distance to the test images (classifier features): {result['frechet_distance']:.3f}")
    wrote = "parzen.json and nearest.png" if result.get("nearest_figure") else "parzen.json"
    print(f"written to {Path(where)}/{wrote}")


def _parzen_data(args: argparse.Namespace) -> int:
    from aaekit.run import parzen_data

    if args.n < 2:
        raise ConfigError(f"-n must be at least 2, got {args.n}")
    overrides = list(args.set or [])
    if args.data_dir:
        overrides.append(f"data.data_dir={args.data_dir}")
    data = load_config(args.config, overrides).data
    result = parzen_data(args.out, data, args.n, args.seed, args.device, _sigmas(args.sigmas))
    _print_parzen(result, args.out)
    return 0


def _classifier(args: argparse.Namespace) -> int:
    from aaekit.config import DataConfig
    from aaekit.metrics.classifier import SHIPPED, build_shipped
    from aaekit.run import code_version

    if args.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")
    out = args.out or SHIPPED
    record = build_shipped(out, DataConfig(data_dir=args.data_dir), args.seed, args.epochs,
                           version={**code_version(), "command": " ".join(["aaekit", *sys.argv[1:]])})
    print(f"classifier written to {out}: test accuracy {record['test_accuracy']:.4f}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from aaekit.report import figures
    from aaekit.run import load_run

    if args.n < 1:
        raise ConfigError(f"-n must be at least 1, got {args.n}")
    out = _out_file(args.out, ["npy", *figures.image_formats()], "samples")
    model, _, state = load_run(args.run, args.device)
    shape = state["image_shape"]
    if out.suffix.lower() != ".npy" and len(shape) < 2:
        raise DataError(f"{args.run} models flat {model.x_dim}-D data with no image shape; use --out FILE.npy")
    torch.manual_seed(args.seed)
    x = model.sample(args.n).float().cpu().numpy()
    _mkdir(out.parent)
    if out.suffix.lower() == ".npy":
        np.save(out, x)
    else:
        figures.save_grid(x, shape, out, ncol=min(10, args.n))
    print(f"{args.n} samples written to {out}")
    return 0


def _encode(args: argparse.Namespace) -> int:
    """Codes of a file of images under a trained run, for use elsewhere."""
    import numpy as np

    from aaekit.data.arrays import load_arrays
    from aaekit.run import encode_run

    out = _out_file(args.out, ["npy", "npz"], "codes")
    x, y = load_arrays(args.images)
    outputs = encode_run(args.run, x, args.device, args.batch_size)
    _mkdir(out.parent)
    if out.suffix.lower() == ".npy":
        np.save(out, outputs["codes"])
        left = [k for k in outputs if k != "codes"]
        note = f" (not written: {', '.join(left)}; --out FILE.npz holds them too)" if left else ""
    else:
        np.savez(out, **outputs, **({"y": y} if y is not None else {}))
        note = f" ({', '.join(outputs)}{', y' if y is not None else ''})"
    print(f"codes of {len(x)} images, {outputs['codes'].shape[1]}-D, written to {out}{note}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    """The registry's experiments: --list their status, or train what is missing and write the report."""
    from aaekit.reproduce import listing, reproduce

    if args.list:
        print("\n".join(listing(args.names, args.budget, args.results, args.seeds)))
        return 0
    folder = reproduce(args.names, args.budget, args.results, args.seeds, args.device)
    print(f"report written to {folder / 'REPORT.md'}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    """Side-by-side 2-D code maps of several runs (the paper's Fig. 2), from their codes.npz."""
    import numpy as np

    from aaekit.report import figures

    out = _out_file(args.out, figures.image_formats(), "a figure")
    panels, sources = [], []
    for run in args.manifold or []:  # checked first: a missing one fails before anything is read
        if not (Path(run) / "manifold.png").is_file() or not (Path(run) / "metrics.json").is_file():
            raise DataError(f"{run} has no manifold.png/metrics.json; train a run with a 2-D code there")
    for run in args.runs:
        run = Path(run)
        codes, metrics = run / "codes.npz", run / "metrics.json"
        if not codes.is_file() or not metrics.is_file():
            raise DataError(f"{run} has no codes.npz/metrics.json; train a run with a 2-D code there")
        doc = json.loads(metrics.read_text())
        with np.load(codes) as c:
            y = c["y"] if len(c["y"]) else None
            fit = doc["metrics"].get("prior_fit_c2st")
            panels.append({"z": c["z"], "y": y, "prior": c["prior"],
                           "title": f"{doc['experiment']}: {doc['config']['model']['kind'].upper()}, "
                                    f"{doc['config']['prior']['kind']} prior"
                                    + (f"\ncodes vs prior: C2ST {fit:.2f} (0.5 = a match)" if fit is not None else "")})
        sources.append({"run": str(run), "experiment": doc["experiment"], "seed": doc["seed"],
                        "git_commit": doc["provenance"]["git_commit"],
                        "recon_mse": doc["metrics"]["recon_mse"]})
    for run in args.manifold or []:
        doc = json.loads((Path(run) / "metrics.json").read_text())
        panels.append({"image": str(Path(run) / "manifold.png"),
                       "title": f"{doc['experiment']}:\nimages decoded from a grid of codes"})
        sources.append({"run": str(run), "experiment": doc["experiment"], "seed": doc["seed"],
                        "git_commit": doc["provenance"]["git_commit"], "panel": "manifold"})
    _mkdir(out.parent)
    figures.save_code_panels(panels, out, ncol=args.ncol)
    out.with_suffix(".sources.json").write_text(json.dumps(sources, indent=2) + "\n")
    print(f"figure written to {out} (its runs listed in {out.with_suffix('.sources.json')})")
    return 0


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the folder {folder} ({e.strerror})") from None


def _report(args: argparse.Namespace) -> int:
    from aaekit.report.report import write_report

    if not Path(args.results).is_dir():
        raise ConfigError(f"--results {args.results} is not a folder")
    print(f"report written to {write_report(args.results, args.out)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="aaekit", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action=_VersionAction, help="print the version and git commit, then exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train the experiment of a YAML config")
    t.add_argument("config", nargs="?", help="YAML config (configs/*.yaml); omit for all defaults")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=10 (repeatable)")
    t.add_argument("--data-dir", help="MNIST folder (default: $AAEKIT_DATA, else ./data/mnist)")
    t.add_argument("--out", help="run folder (default: runs/<name>/seed<seed>)")
    t.add_argument("--resume", action="store_true",
                   help="continue from the run folder's checkpoint (a new run if it has none)")
    t.add_argument("--overwrite", action="store_true", help="start afresh over an existing run folder")
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="test metrics of a trained run")
    e.add_argument("run", help="run folder or checkpoint file")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])
    e.add_argument("--device", default="auto")
    e.add_argument("--figures", metavar="DIR", help="also write figures to DIR")
    e.add_argument("--data-dir", help="MNIST folder, where it moved since training")
    e.add_argument("--parzen", action="store_true",
                   help="sample quality instead (paper Table 1): Parzen log-likelihood of the test split "
                        "(sigma chosen on val), Fréchet distance, nearest-neighbour figure -> parzen.json")
    e.add_argument("--n-samples", type=int, default=10000, help="samples for --parzen (default 10000)")
    e.add_argument("--sample-seed", type=int, default=0, help="seed of the --parzen samples")
    e.add_argument("--sigmas", help="comma-separated Parzen widths (default: 31 from 0.05 to 0.5)")
    e.set_defaults(func=_eval)

    pd = sub.add_parser("parzen-data", help="--parzen's protocol with real training images as samples")
    pd.add_argument("config", nargs="?", help="YAML config whose data section is used (default: MNIST)")
    pd.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. data.val_size=5000")
    pd.add_argument("--out", required=True, help="folder for parzen.json and nearest.png")
    pd.add_argument("-n", type=int, default=10000, help="training images used as samples (default 10000)")
    pd.add_argument("--seed", type=int, default=0, help="seed of the choice of images")
    pd.add_argument("--data-dir", help="MNIST folder (default: $AAEKIT_DATA, else ./data/mnist)")
    pd.add_argument("--device", default="auto")
    pd.add_argument("--sigmas", help="comma-separated Parzen widths (default: 31 from 0.05 to 0.5)")
    pd.set_defaults(func=_parzen_data)

    k = sub.add_parser("classifier", help="train the small MNIST classifier (Fréchet features, digit checks)")
    k.add_argument("--out", default=None, help="weights file (default: the one aaekit ships)")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--epochs", type=int, default=10)
    k.add_argument("--data-dir", help="MNIST folder (default: $AAEKIT_DATA, else ./data/mnist)")
    k.set_defaults(func=_classifier)

    s = sub.add_parser("sample", help="decode draws of the prior of a trained run")
    s.add_argument("run", help="run folder or checkpoint file")
    s.add_argument("-n", type=int, default=100, help="number of samples (default 100)")
    s.add_argument("--out", default="samples.png", help=".png grid or .npy array")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto")
    s.set_defaults(func=_sample)

    en = sub.add_parser("encode", help="codes of a file of images under a trained run (.npy or .npz out)")
    en.add_argument("run", help="run folder or checkpoint file")
    en.add_argument("images", help=".npy of images, or .npz with them under x/images (labels under y are kept)")
    en.add_argument("--out", required=True, help=".npy: the codes alone; .npz: codes, class_probs (models with "
                    "a class head), reduced (dimred models), y (the input's labels)")
    en.add_argument("--device", default="auto")
    en.add_argument("--batch-size", type=int, default=1000)
    en.set_defaults(func=_encode)

    rp = sub.add_parser("reproduce", help="train the paper's experiments that are missing, then write the report")
    rp.add_argument("names", nargs="*", help="experiments of the registry (default: all; --list names them)")
    rp.add_argument("--budget", default="paper", help="paper: the committed recipes into results/; quick: one "
                    "epoch on 1000 images, one seed each, into a scratch folder (default: paper)")
    rp.add_argument("--seeds", type=int, help="the first N seeds of each experiment (default: all; quick: 1)")
    rp.add_argument("--results", help="the folder (default: results/, quick: runs/reproduce_quick/)")
    rp.add_argument("--device", help="train.device for every run (default: each config's, auto)")
    rp.add_argument("--list", action="store_true", help="print each experiment's status and time left, then exit")
    rp.set_defaults(func=_reproduce)

    c = sub.add_parser("compare", help="2-D code maps of several runs side by side (Fig. 2)")
    c.add_argument("runs", nargs="+", help="run folders holding codes.npz and metrics.json")
    c.add_argument("--out", required=True, help="figure file (.png)")
    c.add_argument("--manifold", nargs="+", metavar="RUN",
                   help="also these runs' manifold.png (images decoded from a grid of codes: Fig. 2e)")
    c.add_argument("--ncol", type=int, default=2)
    c.set_defaults(func=_compare)

    r = sub.add_parser("report", help="Markdown table of every run's metrics.json under a folder")
    r.add_argument("--results", default="results", help="folder of <experiment>/seed<N>/metrics.json")
    r.add_argument("--out", help="Markdown file (default: <results>/REPORT.md)")
    r.set_defaults(func=_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # under torchrun, processes other than 0 print warnings and errors only
    quiet = int(os.environ.get("RANK", "0")) > 0
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except EXPECTED as e:
        print(f"aaekit: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, USAGE) and not isinstance(e, CheckpointWriteError) else 1
    except OSError as e:  # a file system refusal not foreseen above: still one line
        where = f" ({e.filename})" if e.filename else ""
        print(f"aaekit: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except yaml.YAMLError as e:
        print(f"aaekit: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aaekit: interrupted; the last completed epoch's checkpoint is kept", file=sys.stderr)
        return 130

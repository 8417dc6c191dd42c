"""`aaekit reproduce`: train what the registry (aaekit.experiments) lacks, evaluate it, write the report.

``--budget paper`` runs the committed recipes into results/ (resuming partial runs, skipping done
ones); ``--budget quick`` runs every experiment for one epoch on 1000 images, one seed, into a
scratch folder (never results/): a smoke check of the whole pipeline.
"""

from __future__ import annotations

import logging
import shlex
import time
from pathlib import Path

from aaekit.config import ConfigError
from aaekit.experiments import (
    PAPER_PARZEN_SAMPLES,
    QUICK,
    QUICK_PARZEN_SAMPLES,
    REPO,
    Experiment,
    get,
    seed_status,
    summary,
)

log = logging.getLogger(__name__)

BUDGETS = ("quick", "paper")


def _extra(exp: Experiment, budget: str, device: str | None) -> tuple[str, ...]:
    """The --set values a budget adds to an experiment's own."""
    extra = (*QUICK, *exp.quick) if budget == "quick" else ()
    return (*extra, f"train.device={device}") if device else extra


def _seeds(exp: Experiment, budget: str, n: int | None) -> tuple[int, ...]:
    if n is not None and n < 1:
        raise ConfigError(f"--seeds must be at least 1, got {n}")
    return exp.seeds[: n or (1 if budget == "quick" else len(exp.seeds))]


def results_folder(budget: str, results: str | Path | None, configs: Path = REPO) -> Path:
    """Where a budget writes: results/ for paper, runs/reproduce_quick/ for quick (never results/)."""
    if budget not in BUDGETS:
        raise ConfigError(f"--budget must be one of {', '.join(BUDGETS)}, got {budget!r}")
    if results is None:
        return Path("results") if budget == "paper" else Path("runs") / "reproduce_quick"
    path = Path(results)
    if budget == "quick":
        committed = {(configs / "results").resolve(), (Path.cwd() / "results").resolve()}
        if any(path.resolve() == c or c in path.resolve().parents for c in committed):
            raise ConfigError(f"--budget quick writes to a scratch folder, never under results/ (got {results})")
    return path


def listing(names: list[str] | None, budget: str = "paper", results: str | Path | None = None,
            seeds: int | None = None, configs: Path = REPO) -> list[str]:
    """One line per experiment: its status over its seeds and the estimated time of what is left
    (from the mean wall time of its runs that exist)."""
    folder = results_folder(budget, results, configs)
    lines = []
    experiments = get(names)
    width = max(len(e.name) for e in experiments)
    for exp in experiments:
        wanted = _seeds(exp, budget, seeds)
        status = [seed_status(exp, s, folder, configs, _extra(exp, budget, None)) for s in wanted]
        done, outdated = status.count("done"), status.count("outdated")
        state = "done" if done == len(wanted) else ("missing" if status.count("missing") == len(wanted) else "partial")
        if outdated:
            state += f" ({outdated} outdated: other epochs, no checkpoint; left alone)"
        found = summary(exp, folder)
        left = len(wanted) - done - outdated
        if left == 0:
            eta = "-"
        elif found and found["wall_time_s"]:
            eta = f"~{left * found['wall_time_s'] / 60:.0f} min"
        else:
            eta = "unknown"
        paper = f"paper {exp.paper} [{exp.source}]" if exp.paper else "paper: no number"
        lines.append(f"{exp.name:{width}s} {state:8s} {done}/{len(wanted)} seeds  left {eta:>9s}  "
                     f"{exp.figure}; {paper}")
    return lines


def _evaluate(exp: Experiment, run: Path, n_samples: int, device: str | None) -> None:
    """The experiment's evaluations of a trained run (``parzen``: aaekit eval --parzen)."""
    from aaekit.run import parzen_run

    if "parzen" in exp.evaluations:
        parzen_run(run, n_samples, device=device or "auto")


def reproduce(names: list[str] | None, budget: str = "paper", results: str | Path | None = None,
              seeds: int | None = None, device: str | None = None, configs: Path = REPO,
              report: bool = True) -> Path:
    """Train and evaluate what is missing or partial, then write the report; returns the folder."""
    from aaekit.report.report import write_report
    from aaekit.run import train_run

    folder = results_folder(budget, results, configs)
    n_samples = QUICK_PARZEN_SAMPLES if budget == "quick" else PAPER_PARZEN_SAMPLES
    start = time.perf_counter()
    for exp in get(names):
        extra = _extra(exp, budget, device)
        for seed in _seeds(exp, budget, seeds):
            status = seed_status(exp, seed, folder, configs, extra)
            run = folder / exp.results / f"seed{seed}"
            if status == "done":
                continue
            if status == "outdated":
                log.warning("%s seed %d: %s holds a run of other epochs and no checkpoint; left as it is",
                            exp.name, seed, run)
                continue
            if status == "evaluate":
                _evaluate(exp, run, n_samples, device)
                continue
            cfg = exp.config_of(seed, folder, configs, extra)
            sets = [*exp.overrides, *extra, f"seed={seed}"]
            command = shlex.join(["aaekit", "reproduce", exp.name, "--budget", budget, "#", "aaekit", "train",
                                  exp.config, "--out", str(run), *[a for s in sets for a in ("--set", s)],
                                  "--resume"])
            log.info("%s seed %d (%s): training %s", exp.name, seed, status, run)
            train_run(cfg, resume=True, command=command)
            _evaluate(exp, run, n_samples, device)
    log.info("reproduce: %.0f s", time.perf_counter() - start)
    if report:
        write_report(folder)
    return folder

"""The registry of the paper's experiments: what `aaekit reproduce` trains and `aaekit report` sets
beside the paper's numbers. Adding an experiment is adding an entry to ``EXPERIMENTS``.

Each entry names the paper's figure or table, its value with the tag of ../shared/PAPER.md that says
how far it is confirmed, the config (and the ``--set`` overrides the committed runs used), the seeds,
the evaluations run after training, and the metric compared with the paper and its direction.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aaekit.config import Config, ConfigError, load_config

# Where configs/ lives: the checkout this module runs from (an installed wheel ships no configs:
# `aaekit reproduce` runs from a checkout, `pip install -e .`).
REPO = Path(__file__).resolve().parents[2]

# --budget quick: every experiment briefly, a smoke check of the whole pipeline.
QUICK = ("train.epochs=1", "data.train_subset=1000", "data.val_size=1000", "train.progress=false")
QUICK_PARZEN_SAMPLES = 200
PAPER_PARZEN_SAMPLES = 10000


@dataclass(frozen=True)
class Experiment:
    name: str
    figure: str  # the paper's figure or table, and what of it
    config: str  # relative to the repository root
    results: str  # the folder under results/ holding seed<N>/
    seeds: tuple[int, ...]
    metric: str  # dotted key in the seed's metrics file: "test_error_pct", "parzen.test_ll"
    direction: str  # "lower" or "higher" is better
    paper: str | None = None  # the paper's value, as printed ("1.90 ± 0.10"); None: a figure, no number
    source: str = ""  # its tag in PAPER.md: "paper", "quoted: ...", "memory", ...
    overrides: tuple[str, ...] = ()  # --set values of the committed runs, beyond the config
    evaluations: tuple[str, ...] = ()  # "parzen": `aaekit eval --parzen` after training
    deviations: str = ""  # where the committed recipe departs from the paper's
    quick: tuple[str, ...] = ()  # --set values --budget quick adds to QUICK for this experiment

    @property
    def metrics_file(self) -> str:
        return "parzen.json" if "parzen" in self.evaluations else "metrics.json"

    def config_of(self, seed: int, results: Path, configs: Path = REPO, extra: tuple[str, ...] = ()) -> Config:
        """The run config of ``seed``, written under ``results``."""
        return load_config(configs / self.config, [*self.overrides, *extra, f"seed={seed}",
                                                   f"out_dir={results / self.results / f'seed{seed}'}"])

    def value(self, doc: dict[str, Any]) -> float | None:
        node: Any = doc.get("metrics", {})
        for key in self.metric.split("."):
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return float(node) if isinstance(node, int | float) else None


def _seeds(n: int) -> tuple[int, ...]:
    return tuple(range(n))


# --budget quick trains on 1000 images: too few to hold 1000 labelled ones, so those runs take 300.
QUICK_1000_LABELS = ("data.labelled=300",)

# The paper's Table 2 cells (MNIST): value, its PAPER.md tag, our number of seeds, quick overrides.
TABLE2 = {"100": ("1.90 ± 0.10", "quoted: GitHub issues musyoku #13, hjweide #2, takerum #2", 5, ()),
          "1000": ("1.60 ± 0.08", "memory", 5, QUICK_1000_LABELS),
          "all": ("0.85 ± 0.02", "quoted: wizwand benchmark page", 3, ())}


# aaekit's recipe trains each number of labels to the epochs of its config (chosen on validation:
# the lowest mean validation error of the epochs tried); the shorter runs it was resumed through,
# and any longer one tried, stay beside it in semisupervised/epochs_<epochs>/.
TABLE2_EPOCHS = {"100": (150, (30, 60, 100)), "1000": (100, (30, 60)), "all": (100, (30, 60))}


def _table2(labels: str, epochs: int | None = None) -> Experiment:
    """aaekit's semi-supervised recipe (configs/semisupervised/labels_<labels>.yaml) with ``labels``
    labels, at its config's epochs (``epochs`` None: semisupervised/labels_<labels>/) or trained to
    ``epochs`` (semisupervised/epochs_<epochs>/labels_<labels>/)."""
    paper, source, n_seeds, quick = TABLE2[labels]
    main = epochs is None
    epochs = TABLE2_EPOCHS[labels][0] if main else epochs
    drops = " (one lr drop, at 50)" if epochs > 50 else ""
    return Experiment(
        f"semisupervised_{labels}" + ("" if main else f"_{epochs}_epochs"),
        f"Table 2: test error %, {labels} labels" + ("" if main else f" (aaekit's recipe to {epochs} epochs)"),
        f"configs/semisupervised/labels_{labels}.yaml",
        "semisupervised/" + ("" if main else f"epochs_{epochs}/") + f"labels_{labels}", _seeds(n_seeds),
        "test_error_pct", "lower", paper, source, overrides=() if main else (f"train.epochs={epochs}",),
        deviations=f"labelled images shifted (model.labelled_shift 3); {epochs} epochs{drops}, not 5000",
        quick=quick)


def _dimred(labels: str, paper: str, ours: bool) -> Experiment:
    """Fig. 11's semi-supervised 2-D code with ``labels`` labels: aaekit's recipe
    (configs/dimred/semisupervised_<labels>.yaml), or the paper's (paper_semisupervised_<labels>.yaml)."""
    return Experiment(
        f"dimred_{labels}" + ("" if ours else "_paper_recipe"),
        f"Fig. 11: 2-D code, {labels} labels, test error %" + ("" if ours else " (the paper's recipe)"),
        f"configs/dimred/{'' if ours else 'paper_'}semisupervised_{labels}.yaml",
        f"dimred/{'' if ours else 'paper_recipe/'}semisupervised_{labels}", _seeds(3), "test_error_pct", "lower",
        paper, "memory, low confidence", overrides=() if ours else ("train.epochs=20",),
        deviations=("labelled images shifted (model.labelled_shift 3); every lr dropped x0.1 at epoch 10; "
                    "20 epochs, not 5000") if ours else "20 epochs, not 5000",
        quick=QUICK_1000_LABELS if labels == "1000" else ())


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("figure2_aae_gaussian", "Fig. 2a: AAE, 2-D code, N(0, I) prior", "configs/unsupervised_gaussian.yaml",
               "unsupervised_gaussian", _seeds(3), "prior_fit_c2st", "lower",
               deviations="40 epochs (the paper does not give them for this figure); generator lr 0.03; only the "
                          "reconstruction's lr dropped (x0.1 at epoch 20)"),
    Experiment("figure2_aae_mog", "Fig. 2b: AAE, 2-D code, mixture of 10 Gaussians", "configs/unsupervised_mog.yaml",
               "unsupervised_mog", _seeds(3), "prior_fit_c2st", "lower",
               deviations="40 epochs (the paper does not give them for this figure); generator lr 0.03; only the "
                          "reconstruction's lr dropped (x0.1 at epochs 10 and 30)"),
    Experiment("figure2_vae_gaussian", "Fig. 2c: VAE, 2-D code, N(0, I) prior", "configs/vae_gaussian.yaml",
               "vae_gaussian", _seeds(3), "prior_fit_c2st", "lower"),
    Experiment("figure2_vae_mog", "Fig. 2d: VAE, 2-D code, mixture of 10 Gaussians", "configs/vae_mog.yaml",
               "vae_mog", _seeds(3), "prior_fit_c2st", "lower"),
    Experiment("swissroll", "Fig. 4 prior without labels: AAE, 2-D code, swiss roll",
               "configs/unsupervised_swissroll.yaml", "unsupervised_swissroll", _seeds(3), "prior_fit_c2st", "lower",
               deviations="a roll of width 0.1; 40 epochs; generator lr 0.01, discriminator lr 0.02; only the "
                          "reconstruction's lr dropped (x0.1 at epochs 10, 20 and 30)"),
    Experiment("parzen_aae", "Table 1: Parzen log-likelihood (nats), 8-D AAE", "configs/parzen/parzen_aae.yaml",
               "parzen/parzen_aae", _seeds(3), "parzen.test_ll", "higher", "340 ± 2",
               "quoted: eVAE paper", evaluations=("parzen",),
               deviations="a Gaussian posterior (the paper's Sec. 2 option (b)); 2 x 1200 nets, default init; "
                          "dropout 0.2; Bernoulli cost; Adam 2e-4 / 1e-4, no drops; 200 epochs (the public "
                          "reimplementation's length), not 5000 epochs of SGD"),
    Experiment("parzen_aae_mlp", "Table 1, aaekit's first recipe: Parzen log-likelihood (nats), 8-D AAE",
               "configs/parzen/parzen_aae_mlp.yaml", "parzen/parzen_aae_mlp", _seeds(3), "parzen.test_ll", "higher",
               "340 ± 2", "quoted: eVAE paper", evaluations=("parzen",),
               deviations="50 epochs, not 5000; only the reconstruction's lr dropped (x0.1 at epoch 20)"),
    Experiment("parzen_aae_bn", "Table 1 with batch norm: Parzen log-likelihood (nats), 8-D AAE",
               "configs/parzen/parzen_aae_bn.yaml", "parzen/parzen_aae_bn", _seeds(3), "parzen.test_ll", "higher",
               "340 ± 2", "quoted: eVAE paper", evaluations=("parzen",),
               deviations="batch norm in the encoder and decoder; 50 epochs, not 5000; only the reconstruction's "
                          "lr dropped (x0.1 at epoch 20)"),
    Experiment("parzen_aae_dropout", "Table 1 with dropout: Parzen log-likelihood (nats), 8-D AAE",
               "configs/parzen/parzen_aae_dropout.yaml", "parzen/parzen_aae_dropout", _seeds(3), "parzen.test_ll",
               "higher", "340 ± 2", "quoted: eVAE paper", evaluations=("parzen",),
               deviations="dropout 0.2 after every hidden ReLU (encoder, decoder, discriminator); 100 epochs, "
                          "not 5000; only the reconstruction's lr dropped (x0.1 at epoch 20)"),
    Experiment("parzen_aae_gaussian", "Table 1 with a Gaussian posterior: Parzen log-likelihood (nats), 8-D AAE",
               "configs/parzen/parzen_aae_gaussian.yaml", "parzen/parzen_aae_gaussian", _seeds(3), "parzen.test_ll",
               "higher", "340 ± 2", "quoted: eVAE paper", evaluations=("parzen",),
               deviations="a Gaussian posterior (the paper's Sec. 2 option (b)); 2 x 1200 nets, default init; "
                          "dropout 0.2 after every hidden ReLU; Bernoulli cost; Adam 2e-4 / 1e-4, not SGD; "
                          "50 epochs, not 5000 (keil555/AAE_paddle's recipe)"),
    Experiment("parzen_aae_gaussian_100", "Table 1 with a Gaussian posterior, 100 epochs: Parzen log-likelihood "
               "(nats), 8-D AAE", "configs/parzen/parzen_aae_gaussian.yaml", "parzen/parzen_aae_gaussian_100",
               _seeds(3), "parzen.test_ll", "higher", "340 ± 2", "quoted: eVAE paper", overrides=("train.epochs=100",),
               evaluations=("parzen",),
               deviations="parzen_aae_gaussian's recipe (a Gaussian posterior; 2 x 1200 nets, default init; dropout "
                          "0.2; Bernoulli cost; Adam 2e-4 / 1e-4) trained 100 epochs, not 50 (the validation score "
                          "of seeds 0 and 2 favoured it, seed 1's did not)"),
    Experiment("parzen_aae_gaussian_120", "Table 1 with a Gaussian posterior, 120 epochs, every lr x0.1 at 100: "
               "Parzen log-likelihood (nats), 8-D AAE", "configs/parzen/parzen_aae_gaussian.yaml",
               "parzen/parzen_aae_gaussian_120", _seeds(3), "parzen.test_ll", "higher", "340 ± 2",
               "quoted: eVAE paper",
               overrides=("train.epochs=120", *(f"train.optim.{p}.milestones=[100]"
                                                for p in ("reconstruction", "discriminator", "generator"))),
               evaluations=("parzen",),
               deviations="parzen_aae_gaussian_100's runs trained on to 120 epochs with every phase's lr x0.1 from "
                          "epoch 101 (Adam 2e-5 / 1e-5), not 5000 epochs of SGD"),
    Experiment("parzen_aae_paper_schedule", "Table 1 with the paper's schedule: Parzen log-likelihood (nats)",
               "configs/parzen/paper_parzen_aae.yaml", "parzen/paper_parzen_aae", _seeds(3), "parzen.test_ll",
               "higher", "340 ± 2", "quoted: eVAE paper", evaluations=("parzen",),
               deviations="100 epochs, not 5000 (every phase's lr dropped x0.1 at epoch 50)"),
    Experiment("parzen_vae", "Table 1 protocol: a VAE on the same nets", "configs/parzen/parzen_vae.yaml",
               "parzen/parzen_vae", _seeds(3), "parzen.test_ll", "higher", evaluations=("parzen",)),
    Experiment("label_mog", "Fig. 4: labels in the adversary, mixture of 10 Gaussians",
               "configs/supervised/label_mog.yaml", "supervised/label_mog", _seeds(3), "component_accuracy", "higher",
               quick=("data.labelled=100",)),
    Experiment("label_swissroll", "Fig. 4: labels in the adversary, swiss roll",
               "configs/supervised/label_swissroll_wide.yaml", "supervised/label_swissroll_wide", _seeds(3),
               "component_accuracy", "higher", deviations="a roll of width 0.3 (prior.roll_noise)",
               quick=("data.labelled=100",)),
    Experiment("supervised", "Fig. 7: style and content apart (label from the style; chance 0.10)",
               "configs/supervised/supervised_aae_label_adversary.yaml", "supervised/supervised_aae_label_adversary",
               _seeds(3), "style_label_accuracy", "lower",
               deviations="the discriminator also sees the label (model.adversary_sees_label)"),
    *(_table2(labels, epochs) for labels, (_, others) in TABLE2_EPOCHS.items() for epochs in (None, *others)),
    Experiment("clustering_16", "Table 3: clustering error %, 16 clusters", "configs/clustering/k16.yaml",
               "clustering/k16", _seeds(5), "cluster_error_pct", "lower", "9.55 ± 2.1", "memory",
               deviations="mini-batch class adversary; 2 x 1000 nets, not 2 x 3000; 20 epochs, not 5000"),
    Experiment("clustering_16_dropout", "Table 3 with dropout: clustering error %, 16 clusters",
               "configs/clustering/k16_dropout.yaml", "clustering/k16_dropout", _seeds(5), "cluster_error_pct", "lower",
               "9.55 ± 2.1", "memory",
               deviations="the class adversary sees each mini-batch's mean y; dropout 0.2 after every hidden ReLU; "
                          "2 x 1000 nets, not 2 x 3000; 40 epochs, not 5000"),
    Experiment("clustering_30_dropout", "Table 3 with dropout: clustering error %, 30 clusters",
               "configs/clustering/k30_dropout.yaml", "clustering/k30_dropout", _seeds(5), "cluster_error_pct", "lower",
               "4.10 ± 1.13", "memory",
               deviations="the class adversary sees each mini-batch's mean y; dropout 0.2 after every hidden ReLU; "
                          "2 x 1000 nets, not 2 x 3000; 40 epochs, not 5000"),
    Experiment("clustering_30_dropout_shift", "Table 3 with dropout and a shifted encoder input: clustering error %, "
               "30 clusters", "configs/clustering/k30_dropout_shift.yaml", "clustering/k30_dropout_shift", _seeds(5),
               "cluster_error_pct", "lower", "4.10 ± 1.13", "memory",
               deviations="the class adversary sees each mini-batch's mean y; dropout 0.2 after every hidden ReLU; "
                          "the encoder reads each training image moved by up to 2 pixels per axis; "
                          "2 x 1000 nets, not 2 x 3000; 40 epochs, not 5000"),
    Experiment("clustering_30_dropout_3000", "Table 3 with dropout, 2 x 3000 nets: clustering error %, 30 clusters",
               "configs/clustering/k30_dropout_3000.yaml", "clustering/k30_dropout_3000", _seeds(5),
               "cluster_error_pct", "lower", "4.10 ± 1.13", "memory",
               deviations="the class adversary sees each mini-batch's mean y; dropout 0.2 after every hidden ReLU; "
                          "40 epochs, not 5000"),
    Experiment("clustering_30", "Table 3: clustering error %, 30 clusters", "configs/clustering/k30.yaml",
               "clustering/k30", _seeds(5), "cluster_error_pct", "lower", "4.10 ± 1.13", "memory",
               deviations="mini-batch class adversary; 2 x 1000 nets, not 2 x 3000; 20 epochs, not 5000"),
    *(_dimred(labels, paper, ours) for labels, paper in (("1000", "4.2"), ("100", "6.1")) for ours in (True, False)),
    Experiment("dimred_unsupervised_20", "Fig. 11: 2-D code, 20 clusters, clustering error %",
               "configs/dimred/unsupervised_k20.yaml", "dimred/unsupervised_k20", _seeds(3), "cluster_error_pct",
               "lower", "13.5", "memory, low confidence", overrides=("train.epochs=20",),
               deviations="mini-batch class adversary; 20 epochs, not 5000"),
)


def get(names: list[str] | None = None) -> list[Experiment]:
    """The registry's experiments of ``names`` (all when None); an unknown name is a ConfigError."""
    if not names:
        return list(EXPERIMENTS)
    known = {e.name: e for e in EXPERIMENTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown experiment {unknown[0]!r}; `aaekit reproduce --list` names them all")
    return [known[n] for n in names]


def seed_status(exp: Experiment, seed: int, results: Path, configs: Path = REPO,
                extra: tuple[str, ...] = ()) -> str:
    """"done" (metrics of the config's epochs and every evaluation's file), "evaluate" (trained,
    an evaluation missing), "partial" (a checkpoint to resume), "outdated" (metrics of other epochs
    and no checkpoint: left alone, never overwritten) or "missing"."""
    run = results / exp.results / f"seed{seed}"
    metrics, checkpoint = run / "metrics.json", (run / "checkpoint.pt").is_file()
    if not metrics.is_file():
        return "partial" if checkpoint else "missing"
    epochs = json.loads(metrics.read_text())["provenance"].get("epochs")
    if epochs != exp.config_of(seed, results, configs, extra).train.epochs:
        return "partial" if checkpoint else "outdated"
    return "done" if all((run / f"{e}.json").is_file() for e in exp.evaluations) else "evaluate"


def docs(exp: Experiment, results: Path, within: str = "") -> list[dict[str, Any]]:
    """The metrics files of the experiment's seeds under ``results`` that exist, in seed order;
    ``within``: a folder inside each seed's run (``exact_heads``: the run trained again and scored anew)."""
    out = []
    for seed in exp.seeds:
        path = results / exp.results / f"seed{seed}" / within / exp.metrics_file
        if path.is_file():
            out.append(json.loads(path.read_text()))
    return out


def wall_time_s(doc: dict[str, Any]) -> float | None:
    prov = doc.get("provenance", {})
    value = prov.get("wall_time_s", prov.get("training_wall_time_s"))
    return float(value) if value is not None else None


def paper_number(text: str | None) -> float | None:
    """The leading number of a paper value ("1.90 ± 0.10" -> 1.90)."""
    match = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)", text or "")
    return float(match.group(1)) if match else None


def reached(exp: Experiment, mean: float) -> bool | None:
    """Whether a mean over seeds is at or beyond the paper's value in the metric's direction."""
    target = paper_number(exp.paper)
    if target is None:
        return None
    return mean <= target if exp.direction == "lower" else mean >= target


def summary(exp: Experiment, results: Path, within: str = "") -> dict[str, Any] | None:
    """Ours over the seeds present: mean, std, seeds, epochs, mean wall time; None if no seed ran.
    ``within``: as for `docs`."""
    found = [(d, exp.value(d)) for d in docs(exp, results, within)]
    found = [(d, v) for d, v in found if v is not None]
    if not found:
        return None
    values = [v for _, v in found]
    times = [t for t in (wall_time_s(d) for d, _ in found) if t is not None]
    epochs = sorted({str(d["provenance"].get("training_epochs", d["provenance"].get("epochs"))) for d, _ in found})
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "seeds": [d["seed"] for d, _ in found], "epochs": epochs,
            "wall_time_s": statistics.mean(times) if times else None}

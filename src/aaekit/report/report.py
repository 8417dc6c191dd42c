"""The results page: a Markdown table of every committed run, read only from its metrics.json.

The report never computes or types a number itself: each cell is a value of some run's metrics.json.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

COLUMNS = [  # (header, path into metrics.json, format)
    ("test recon. SSE / image", ("metrics", "recon_sse"), "{:.2f}"),
    ("test recon. MSE / pixel", ("metrics", "recon_mse"), "{:.4f}"),
    ("code std (prior std)", None, None),
    ("D acc. prior / codes (test)", None, None),
    ("label measures (test)", None, None),
    ("epochs", ("provenance", "epochs"), "{}"),
    ("wall time", ("provenance", "wall_time_s"), None),
]


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def _fmt(values: list[Any], fmt: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"


def _minutes(seconds: list[float]) -> str:
    return f"{statistics.mean(seconds) / 60:.0f} min" if seconds else "–"


LABEL_MEASURES = [  # (metrics.json key, name in the table)
    ("component_accuracy", "own component"),
    ("style_label_accuracy", "label from style"),
    ("decoded_label_accuracy", "decoded digit read right"),
    ("test_error_pct", "classification error %"),
    ("cluster_error_pct", "clustering error %"),
    ("nmi", "NMI"),
]


def _d_accuracies(docs: list[dict[str, Any]]) -> str:
    """Each discriminator's test accuracy on prior samples / on codes (``_y``, ``_z``: the
    semi-supervised AAE's two)."""
    parts = []
    for suffix in ("", "_y", "_z"):
        acc = [d["metrics"].get(f"d_acc_prior{suffix}") for d in docs]
        codes = [d["metrics"].get(f"d_acc_codes{suffix}") for d in docs]
        if acc[0] is not None:
            parts.append(f"{suffix[1:] + ': ' if suffix else ''}{_fmt(acc, '{:.2f}')} / {_fmt(codes, '{:.2f}')}")
    return "; ".join(parts) or "–"


def _label_measures(docs: list[dict[str, Any]]) -> str:
    parts = []
    for key, name in LABEL_MEASURES:
        values = [d["metrics"].get(key) for d in docs]
        if any(v is not None for v in values):
            parts.append(f"{name} {_fmt(values, '{:.3f}')}")
    return "; ".join(parts) or "–"


def collect(results: Path, name: str = "metrics.json") -> dict[str, list[dict[str, Any]]]:
    """``name`` (metrics.json; parzen.json, from ``aaekit eval --parzen`` and ``aaekit parzen-data``)
    of every run under ``results`` (``<folder>/seed<N>/<name>``, at any depth), grouped by the
    folder above the seed's."""
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(results.glob(f"**/seed*/{name}")):
        doc = json.loads(path.read_text())
        doc["_dir"] = path.parent
        runs[path.parent.parent.relative_to(results).as_posix()].append(doc)
    return dict(runs)


def render(results: Path) -> str:
    runs = collect(results)
    lines = [
        "# Results",
        "",
        "Made by `aaekit report` from the metrics.json of every run below; each number is a value of",
        "one of those files (mean ± std where an experiment has several seeds).",
        "",
        "| experiment | model | prior | seeds | " + " | ".join(c[0] for c in COLUMNS) + " | commit |",
        "|---" * (len(COLUMNS) + 5) + "|",
    ]
    for name, docs in sorted(runs.items()):
        cfg = docs[0]["config"]
        cells = [f"[{name}]({name}/)", cfg["model"]["kind"].upper(),
                 cfg["prior"]["kind"], ", ".join(str(d["seed"]) for d in docs)]
        for header, path, fmt in COLUMNS:
            if header.startswith("code std"):
                cells.append(f"{_fmt([d['metrics'].get('code_std') for d in docs], '{:.2f}')} "
                             f"({_fmt([d['metrics'].get('prior_std') for d in docs[:1]], '{:.2f}')})")
            elif header.startswith("D acc"):
                cells.append(_d_accuracies(docs))
            elif header.startswith("label measures"):
                cells.append(_label_measures(docs))
            elif header == "wall time":
                cells.append(_minutes([d["provenance"]["wall_time_s"] for d in docs]))
            else:
                cells.append(_fmt([_get(d, path) for d in docs], fmt))
        # in seed order, each commit once
        commits = list(dict.fromkeys(d["provenance"]["git_commit"][:8] for d in sorted(docs, key=lambda d: d["seed"])))
        cells.append(", ".join(commits))
        lines.append("| " + " | ".join(cells) + " |")
    devices = sorted({d["provenance"]["device"] for docs in runs.values() for d in docs})
    lines += ["", "Devices: " + "; ".join(devices) + ".", ""]
    for name, docs in sorted(runs.items()):
        d = docs[0]
        rel = d["_dir"].relative_to(results)
        lines += [f"## {name}", "", f"Figures of seed {d['seed']} (always the lowest seed: not a choice): "
                  f"`{d['provenance']['command']}`", ""]
        for fig in ("codes.png", "samples.png", "manifold.png", "walks.png", "style.png"):
            if (d["_dir"] / fig).is_file():
                lines.append(f"![{name} {fig}]({rel}/{fig})")
        lines.append("")
    lines[5:5] = [*render_paper_vs_ours(results), "## Every run", ""]
    lines += render_table2(results)
    lines += render_clustering(results)
    lines += render_parzen(results)
    lines += render_cnn_ablation(results)
    lines += render_bench(results / "bench")
    return "\n".join(lines)


def render_paper_vs_ours(results: Path) -> list[str]:
    """One row per experiment of the registry (aaekit.experiments) with runs under ``results``: ours
    over seeds beside the paper's value, whether it is reached, and the recipe's deviations."""
    from aaekit import experiments

    rows = []
    for exp in experiments.EXPERIMENTS:
        found = experiments.summary(exp, results)
        if found is None:
            continue
        d = 3 if abs(found["mean"]) < 1 else 2  # fractions (prior_fit_c2st, NMI) to the third decimal
        ours = f"{found['mean']:.{d}f}" + (f" ± {found['std']:.{d}f}" if found["std"] is not None else "")
        n = len(found["seeds"])
        time = f"{found['wall_time_s'] / 60:.0f} min" if found["wall_time_s"] else "–"
        hit = experiments.reached(exp, found["mean"])
        # every seed trained again and scored anew (clustering runs saved before exact cluster heads):
        # shown beside the saved value, and the paper's value is reached only if both reach it
        again, anew = experiments.summary(exp, results, within=EXACT_HEADS), ""
        if again is not None and again["seeds"] == found["seeds"]:
            links = ", ".join(f"[{s}]({exp.results}/seed{s}/{EXACT_HEADS}/{exp.metrics_file})"
                              for s in again["seeds"])
            anew = (f"; trained again and scored with exact heads: **{again['mean']:.{d}f}"
                    + (f" ± {again['std']:.{d}f}" if again["std"] is not None else "") + f"** (seeds {links})")
            hit = None if hit is None else hit and experiments.reached(exp, again["mean"])
        verdict = "–" if hit is None else ("**reached**" if hit else "not reached")
        if hit is not None and n < len(exp.seeds):  # a mean over some of its seeds judges nothing yet
            verdict = f"not judged: {n} of its {len(exp.seeds)} seeds"
        paper = f"{exp.paper} [{exp.source}]" if exp.paper else "–"
        seeds = ", ".join(f"[{s}]({exp.results}/seed{s}/{exp.metrics_file})" for s in found["seeds"])
        rows.append(f"| [{exp.name}]({exp.results}/) | {exp.figure} | `{exp.metric}` ({exp.direction} is better) "
                    f"| **{ours}** (seed{'s' * (n > 1)} {seeds}; {', '.join(found['epochs'])} epochs, {time}){anew} "
                    f"| {paper} | {verdict} | {exp.deviations or '–'} |")
    if not rows:
        return []
    return ["## The paper's numbers beside ours", "",
            "One row per experiment of the registry (`aaekit.experiments`; `aaekit reproduce --list`): the mean",
            "± std over its seeds of the metric it is judged by, beside the paper's value with the tag of",
            "../shared/PAPER.md saying how far that value is confirmed.", "",
            "| experiment | paper | metric | ours | paper's value | | deviations from the paper |",
            "|---" * 7 + "|", *rows, ""]


def _paper(name: str) -> str:
    """The paper's value of the registry's experiment ``name`` (aaekit.experiments), read when a
    report is made; "–" where the registry has no such entry."""
    from aaekit import experiments

    exp = next((e for e in experiments.EXPERIMENTS if e.name == name), None)
    return (exp.paper if exp else None) or "–"


def paper_parzen() -> dict[str, str]:
    """The paper's Table 1, MNIST column (nats), per model kind: a reference, not a result of ours."""
    return {"aae": _paper("parzen_aae")}


def render_parzen(results: Path) -> list[str]:
    runs = {k: v for k, v in collect(results, "parzen.json").items() if not k.startswith("cnn_ablation/")}
    if not runs:
        return []
    lines = [
        "## Sample quality (paper Table 1)",
        "",
        "Parzen-window log-likelihood of the MNIST test images under 10,000 samples (window width chosen",
        "on the validation split; mean ± std over seeds, and the mean of each seed's standard error),",
        "and the Fréchet distance between samples and test images in the features of aaekit's shipped",
        "MNIST classifier (lower is better). `model` DATA: real training images used as the samples.",
        "",
        "| experiment | model | seeds | test log-likelihood (nats) | its s.e. | sigma | Fréchet distance "
        "| training epochs | eval time | paper |",
        "|---" * 10 + "|",
    ]
    figures = []
    for name, docs in sorted(runs.items()):
        kind = docs[0]["config"]["model"]["kind"]
        ll = [d["metrics"]["parzen"]["test_ll"] for d in docs]
        cells = [f"[{name}]({name}/)", kind.upper(), ", ".join(str(d["seed"]) for d in docs),
                 _fmt(ll, "{:.1f}"),
                 f"{statistics.mean(d['metrics']['parzen']['test_ll_se'] for d in docs):.1f}",
                 _fmt([d["metrics"]["parzen"]["sigma"] for d in docs], "{:.3f}"),
                 _fmt([d["metrics"].get("frechet_distance") for d in docs], "{:.2f}"),
                 ", ".join(sorted({str(_training_epochs(d)) for d in docs})) if kind != "data" else "–",
                 f"{statistics.mean(d['metrics']['eval_time_s'] for d in docs):.0f} s",
                 paper_parzen().get(kind, "–")]
        lines.append("| " + " | ".join(cells) + " |")
        if kind != "data":  # each model's best seed by its validation Parzen score (a choice: never by test)
            top = max(docs, key=lambda d: max(d["metrics"]["parzen"]["val_ll_per_sigma"]))
            if (top["_dir"] / "nearest.png").is_file():
                figures.append(top["_dir"].relative_to(results))
    for rel in figures:
        lines += ["", f"Samples of {rel} (its best seed on validation) beside their nearest training images:", "",
                  f"![nearest neighbours of {rel}]({rel}/nearest.png)"]
    return lines + [""]


CNN_VARIANTS = ("mlp", "cnn", "cnn_all_conv", "cnn_no_fc", "cnn_batchnorm", "dcgan")
CNN_SWITCHES = (("cnn", "mlp"), ("cnn_all_conv", "cnn"), ("cnn_no_fc", "cnn"), ("cnn_batchnorm", "cnn"),
                ("dcgan", "cnn"))
CNN_MEASURES = (  # (header, file, experiment, path into the file, format, better)
    ("Parzen LL (nats)", "parzen.json", "parzen", ("metrics", "parzen", "test_ll"), "{:.1f}", "higher"),
    ("Fréchet distance", "parzen.json", "parzen", ("metrics", "frechet_distance"), "{:.1f}", "lower"),
    ("test recon. SSE", "metrics.json", "parzen", ("metrics", "recon_sse"), "{:.2f}", "lower"),
    ("error %, 100 labels", "metrics.json", "semisupervised_100", ("metrics", "test_error_pct"), "{:.2f}",
     "lower"),
    ("error %, 1000 labels", "metrics.json", "semisupervised_1000", ("metrics", "test_error_pct"), "{:.2f}",
     "lower"),
)


def _ablation_roots(results: Path) -> list[Path]:
    """Folders under results/cnn_ablation laid out as <variant>/<experiment>/seed<N>/."""
    top = results / "cnn_ablation"
    if not top.is_dir():
        return []
    return sorted({p.parents[3] for v in CNN_VARIANTS for p in top.glob(f"**/{v}/*/seed*/metrics.json")})


def render_cnn_ablation(results: Path) -> list[str]:
    """The DCGAN ablation: one table per results/cnn_ablation/**/ folder, a row per net (mean ± std
    over seeds, test split), then each switch's difference of means against its base."""
    lines = []
    for root in _ablation_roots(results):
        rel = root.relative_to(results).as_posix()
        values: dict[tuple[str, str], list[float]] = {}
        epochs, devices, commits = {}, set(), set()
        for v in CNN_VARIANTS:
            for header, name, exp, path, _, _ in CNN_MEASURES:
                docs = [json.loads(f.read_text()) for f in sorted((root / v / exp).glob(f"seed*/{name}"))]
                values[v, header] = [x for x in (_get(d, path) for d in docs) if x is not None]
                for d in docs:
                    if name == "metrics.json":
                        epochs.setdefault(exp, set()).add(d["provenance"]["epochs"])
                        devices.add(d["provenance"]["device"])
                        dirty = " (dirty)" if d["provenance"].get("git_dirty") else ""
                        commits.add(d["provenance"]["git_commit"][:8] + dirty)
        lines += [f"## The CNN ablation: [{rel}]({rel}/)", "",
                  "Test split, mean ± std over seeds (seeds per cell in brackets); epochs: "
                  + ", ".join(f"{e} {', '.join(map(str, sorted(n)))}" for e, n in sorted(epochs.items()))
                  + f"; {'; '.join(sorted(devices))}; commit as each run saw it: {', '.join(sorted(commits))}.", "",
                  "| nets | " + " | ".join(f"{h} ({b})" for h, *_, b in CNN_MEASURES) + " |",
                  "|---" * (len(CNN_MEASURES) + 1) + "|"]
        for v in CNN_VARIANTS:
            cells = [f"{_fmt(values[v, h], fmt)} ({len(values[v, h])})" if values[v, h] else "–"
                     for h, _, _, _, fmt, _ in CNN_MEASURES]
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
        lines += ["", "Each switch against its base (difference of the means):", "",
                  "| switch | " + " | ".join(h for h, *_ in CNN_MEASURES) + " |",
                  "|---" * (len(CNN_MEASURES) + 1) + "|"]
        for v, base in CNN_SWITCHES:
            cells = []
            for h, _, _, _, fmt, _ in CNN_MEASURES:
                a, b = values[v, h], values[base, h]
                signed = fmt.replace("{:", "{:+")
                cells.append(signed.format(statistics.mean(a) - statistics.mean(b)) if a and b else "–")
            lines.append(f"| {v} − {base} | " + " | ".join(cells) + " |")
        lines += ["", "Each net's training samples/s, measured alone (not in these runs, which shared one "
                  "device): \"The CNN ablation's nets\" under \"Training speed\" (`bench/throughput_nets.json`).", ""]
    return lines


# The paper's Table 2, MNIST columns (test error %), as recorded in ../shared/PAPER.md sec. 3 (the
# 1000-label AAE cell from memory): references to compare with, not results of ours.
def paper_table2() -> dict[str, dict[str, str]]:
    """The paper's rows of Table 2 (the AAE's from the registry)."""
    return {"AAE (the paper: 5000 epochs)": {n: _paper(f"semisupervised_{n}") for n in ("100", "1000", "all")},
            "NN baseline (the paper)": {"100": "25.80", "1000": "8.73", "all": "1.25"}}
# Our rows: (folder under results/ holding labels_<n>/seed<N>/, its name in the table).
TABLE2_ROWS = [("semisupervised", "aaekit's recipe (`configs/semisupervised/labels_<n>.yaml`: 150 epochs with 100 "
                                  "labels, 100 with 1000 and all)"),
               ("semisupervised/epochs_30", "aaekit's recipe, stopped at 30 epochs"),
               ("semisupervised/epochs_60", "aaekit's recipe, stopped at 60 epochs"),
               ("semisupervised/epochs_100", "aaekit's recipe, stopped at 100 epochs"),
               ("semisupervised/paper_recipe", "the paper's recipe (`paper_labels_<n>.yaml`)"),
               ("semisupervised/nn_baseline", "the encoder on the labelled images alone"),
               ("semisupervised/nn_baseline_shift", "the same, the labelled images shifted as in aaekit's recipe")]
TABLE2_LABELS = ("100", "1000", "all")


def render_table2(results: Path) -> list[str]:
    """The semi-supervised classification table: test error (%) of each of our recipes over seeds
    beside the paper's, one column per number of labels, and the figures of aaekit's recipe."""
    runs = collect(results)
    rows = [(folder, name) for folder, name in TABLE2_ROWS
            if any(f"{folder}/labels_{n}" in runs for n in TABLE2_LABELS)]
    if not rows:
        return []
    lines = ["## Semi-supervised classification (paper Table 2)", "",
             "Test error (%) on MNIST, mean ± std over seeds (each seed its own labelled images), with the",
             "seeds, training epochs and mean wall time of each cell; validation error in brackets.", "",
             "| | " + " | ".join(f"{n} labels" for n in TABLE2_LABELS) + " |", "|---" * 4 + "|"]
    for folder, name in rows:
        cells = []
        for n in TABLE2_LABELS:
            docs = runs.get(f"{folder}/labels_{n}")
            if not docs:
                cells.append("–")
                continue
            test = [d["metrics"]["test_error_pct"] for d in docs]
            val = [d["metrics"]["val_error_pct"] for d in docs]
            epochs = ", ".join(sorted({str(d["provenance"]["epochs"]) for d in docs}))
            seeds = f"{len(docs)} seed{'s' * (len(docs) > 1)}"
            cells.append(f"**{_fmt(test, '{:.2f}')}** ({_fmt(val, '{:.2f}')}); {seeds}, {epochs} epochs, "
                         f"{_minutes([d['provenance']['wall_time_s'] for d in docs])}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, cells in paper_table2().items():
        lines.append(f"| {name} | " + " | ".join(cells[n] for n in TABLE2_LABELS) + " |")
    devices = sorted({d["provenance"]["device"] for folder, _ in rows for n in TABLE2_LABELS
                      for d in runs.get(f"{folder}/labels_{n}", [])})
    lines += ["", "Devices: " + "; ".join(devices) + "."]
    for n in TABLE2_LABELS:  # aaekit's recipe: the figures of its best seed on validation (never on test)
        docs = runs.get(f"semisupervised/labels_{n}")
        if docs:
            top = min(docs, key=lambda d: d["metrics"]["val_error_pct"])
            rel = top["_dir"].relative_to(results)
            lines += ["", f"{rel} (the best seed on validation): the test confusion matrix, and test images' "
                      "styles decoded with each class:", ""]
            lines += [f"![{rel} {fig}]({rel}/{fig})" for fig in ("confusion.png", "style.png")
                      if (top["_dir"] / fig).is_file()]
    return lines + [""]


# Inside a seed's run: the same run trained again, bit for bit, and scored with the paper's
# clustering metric naming each cluster exactly (runs saved before commit 5e17750 named it by a tie).
EXACT_HEADS = "exact_heads"

# The clustering and dimensionality-reduction experiments of the registry (paper Sec. 6-7); each
# is judged by its registry metric, whose validation twin is under metrics.val.
CLUSTERING_ROWS = ("clustering_16", "clustering_30", "dimred_1000", "dimred_1000_paper_recipe", "dimred_100",
                   "dimred_100_paper_recipe", "dimred_unsupervised_20")


def _val_error(doc: dict[str, Any], key: str) -> float:
    """A run's validation error twin of ``key`` (what choosing its figure may read)."""
    m = doc["metrics"]
    return m["val_error_pct"] if key == "test_error_pct" else m["val"][key]


def render_clustering(results: Path) -> list[str]:
    """Clustering (Table 3) and 2-D dimensionality reduction (Fig. 11): test error over seeds beside
    the paper's remembered value, NMI / ARI / empty clusters where measured, and the figures of the
    best seed on validation."""
    from aaekit import experiments

    runs = collect(results)
    known = {exp.name: exp for exp in experiments.EXPERIMENTS}
    rows = [(exp.results, exp.figure, exp.metric, f"{exp.paper} [{exp.source}]")
            for exp in (known[name] for name in CLUSTERING_ROWS if name in known) if exp.results in runs]
    if not rows:
        return []
    lines = ["## Clustering and dimensionality reduction (paper Table 3, Figs. 9 and 11)", "",
             "Test error (%), mean ± std over seeds, validation in brackets: the clustering error is the",
             "paper's (each cluster named by the validation image it is most sure of), the 100 / 1000-label",
             "rows' is the classification error. The paper's values are remembered, not confirmed.", "",
             "| experiment | test error % (val) | NMI | ARI | empty clusters | closest heads | seeds, epochs, "
             "wall time | paper |", "|---" * 8 + "|"]
    figures = []
    for folder, name, key, paper in rows:
        docs = runs[folder]
        m = [d["metrics"] for d in docs]
        cells = [f"[{name}]({folder}/)",
                 f"**{_fmt([x[key] for x in m], '{:.2f}')}** ({_fmt([_val_error(d, key) for d in docs], '{:.2f}')})",
                 _fmt([x.get("nmi") for x in m], "{:.3f}"), _fmt([x.get("ari") for x in m], "{:.3f}"),
                 _fmt([x.get("empty_clusters") for x in m], "{:.1f}"),
                 _fmt([x.get("head_min_distance") for x in m], "{:.2f}"),
                 f"{', '.join(str(d['seed']) for d in docs)}; "
                 f"{', '.join(sorted({str(d['provenance']['epochs']) for d in docs}))} epochs; "
                 f"{_minutes([d['provenance']['wall_time_s'] for d in docs])}",
                 paper]
        lines.append("| " + " | ".join(cells) + " |")
        again = [d["_dir"] / EXACT_HEADS / "metrics.json" for d in docs]
        if all(path.is_file() for path in again):  # every seed trained again and scored with exact heads
            a = [json.loads(path.read_text()) for path in again]
            lines.append(f"| the same runs trained again, exact heads (`seed<N>/{EXACT_HEADS}/`) "
                         f"| **{_fmt([x['metrics'][key] for x in a], '{:.2f}')}** "
                         f"({_fmt([_val_error(x, key) for x in a], '{:.2f}')}) | | | | | | |")
        top = min(docs, key=lambda d: _val_error(d, key))  # a choice: by validation, never by test
        rel = top["_dir"].relative_to(results)
        figs = [f for f in ("map.png", "clusters.png", "cluster_sizes.png") if (top["_dir"] / f).is_file()]
        if figs:
            figures += ["", f"{rel} (the best seed on validation):", ""]
            figures += [f"![{rel} {f}]({rel}/{f})" for f in figs]
    devices = sorted({d["provenance"]["device"] for folder, *_ in rows for d in runs[folder]})
    return lines + ["", "Devices: " + "; ".join(devices) + "."] + figures + [""]


def _training_epochs(doc: dict[str, Any]) -> Any:
    """Training epochs of an evaluation's run (older parzen.json files called them ``epochs``)."""
    prov = doc["provenance"]
    return prov.get("training_epochs", prov.get("epochs"))


def _bench(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def render_bench(folder: Path) -> list[str]:
    """The training-speed benchmarks under results/bench (each file's own command re-makes it)."""
    lines = []
    tp = _bench(folder, "throughput")
    if tp:
        m = tp["metrics"]
        base = next((k for k in ("pythae_fp32", "plain_fp32") if k in m["samples_per_s"]), None)
        mem = m.get("peak_memory_mb", {})
        lines += ["## Training speed", "", f"`{tp['provenance']['command']}` ({tp['provenance']['device']}, "
                  f"commit {tp['provenance']['git_commit'][:8]}): the paper's MLP AAE, batch "
                  f"{tp['config']['batch_size']}, median of {tp['config']['rounds']} rounds.", "",
                  f"| trainer | samples/s | vs {base} | peak memory (MiB) |", "|---|---|---|---|"]
        for k, v in m["samples_per_s"].items():
            ratio = f"{v / m['samples_per_s'][base]:.2f}x" if base else "–"
            memory = f"{mem[k]:.0f}" if k in mem else "–"
            lines.append(f"| {k} | {v:.0f} | {ratio} | {memory} |")
        if "share_of_peak" in m:
            sh, mm = m["share_of_peak"], m["matmul_gflops"]
            lines += ["", f"{sh['trainer']} runs {sh['gflops']:.0f} GFLOP/s of matrix products: "
                      f"{sh['of_bf16_2048_cube']:.0%} of this machine's bf16 rate on large products "
                      f"({mm['bf16_2048_cube']:.0f} GFLOP/s) and {sh['of_bf16_100x1000x1000']:.0%} of its rate "
                      f"on the step's own 100x1000x1000 products ({mm['bf16_100x1000x1000']:.0f} GFLOP/s)."]
        if "idle" in mem:
            lines.append(f"Peak memory is each contender's own process; one that only loads torch and the "
                         f"images peaks at {mem['idle']:.0f} MiB.")
        lines.append("")
    tn = _bench(folder, "throughput_nets")
    if tn:
        m, prov = tn["metrics"], tn["provenance"]
        mem, mlp = m.get("peak_memory_mb", {}), m["samples_per_s"].get("aaekit_mlp")
        lines += ["### The CNN ablation's nets", "", f"`{prov['command']}` ({prov['device']}, commit "
                  f"{prov['git_commit'][:8]}): the 8-D AAE of Table 1 with each net of "
                  "`configs/cnn_ablation/<nets>/parzen.yaml` in aaekit's trainer, batch "
                  f"{tn['config']['batch_size']}, median of {tn['config']['rounds']} rounds.", "",
                  "| nets | samples/s | vs the MLP | peak memory (MiB) |", "|---|---|---|---|"]
        for k, v in m["samples_per_s"].items():
            ratio = f"{v / mlp:.2f}x" if mlp else "–"
            lines.append(f"| {k.removeprefix('aaekit_')} | {v:.0f} | {ratio} | "
                         f"{f'{mem[k]:.0f}' if k in mem else '–'} |")
        lines.append("")
    eq = _bench(folder, "equivalence")
    if eq:
        m, seeds = eq["metrics"], [str(s) for s in eq["config"]["seeds"]]
        lines += ["### fp32 against the fast path (bf16)", "", f"`{eq['provenance']['command']}`: test measures "
                  f"after {eq['config']['epochs']} epochs, same seeds and initial weights.", "",
                  "| measure | " + " | ".join(f"fp32 / bf16, seed {s}" for s in seeds)
                  + " | fp32: seed difference |", "|---" * (len(seeds) + 2) + "|"]
        spread = m.get("fp32_seed_difference")
        for k in m["bf16_minus_fp32"]:
            cells = [f"{m['runs']['fp32'][s][k]:.4g} / {m['runs']['bf16'][s][k]:.4g}" for s in seeds]
            cells.append(f"{spread[k]:+.4g}" if spread else "–")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines += ["", f"Training time fp32 / bf16: {m['fp32_over_bf16_training_time']:.2f}x.", ""]
    bs = _bench(folder, "batch_size")
    if bs:
        c = bs["config"]
        split = "val" if "target_val_recon_sse" in c else "test"  # files made before the target moved to val
        lines += ["### Batch size", "", f"`{bs['provenance']['command']}`: epochs and training time to a "
                  f"{'validation' if split == 'val' else 'test'} reconstruction error of "
                  f"{c[f'target_{split}_recon_sse']:g} (at most {c['max_epochs']} epochs), "
                  f"learning rates scaled from the paper's at batch 100.", "",
                  "| batch | lr rule | epochs to target | training time to target | samples/s |",
                  "|---|---|---|---|---|"]
        for r in bs["metrics"]["runs"]:
            reached = r["epochs_to_target"]
            if reached:
                to_target = f"{reached} | {r['train_time_to_target_s']:.0f} s"
            else:
                to_target = "diverged | –" if r["diverged"] else f"not in {len(r[f'{split}_recon_sse_per_epoch'])} | –"
            speed = f"{r['samples_per_s']:.0f}" if r["samples_per_s"] else "–"
            lines.append(f"| {r['batch_size']} | {r['rule']} | {to_target} | {speed} |")
        if (folder / "batch_size.png").is_file():
            lines += ["", f"![batch size]({folder.name}/batch_size.png)"]
        lines.append("")
    pr = _bench(folder, "profile_step")
    if pr:
        m = pr["metrics"]
        lines += ["### Where a step's time goes", "", f"`{pr['provenance']['command']}` ({pr['provenance']['device']}, "
                  f"commit {pr['provenance']['git_commit'][:8]}): the operators' own times under the profiler add "
                  f"up to {m['ms_per_step']:.1f} ms per step.", "", "| operators | share | ms per step |",
                  "|---|---|---|"]
        for k, v in m["groups"].items():
            lines.append(f"| {k} | {v['share']:.0%} | {v['ms_per_step']:.1f} |")
        lines.append("")
    for path in sorted(folder.glob("cuda_resume*.json")):
        cr = json.loads(path.read_text())
        device = cr["provenance"]["device"].rsplit(",", 1)[0] if "," in cr["provenance"]["device"] else \
            cr["provenance"]["device"]  # the precisions are the table's
        lines += [f"### Exact resume on a GPU: {cr['setup']['config']}", "",
                  f"`{cr['provenance']['command']}` ({device}, "
                  f"torch {cr['provenance']['torch']}): final weights, optimizer state and per-epoch log of a run "
                  "stopped and resumed, and of one killed (SIGKILL) part-way and resumed, against one "
                  "uninterrupted run.", "", "| precision | how | weights | optimizer state | log |",
                  "|---|---|---|---|---|"]
        for prec, r in cr["results"].items():
            for how, v in r.items():
                same = {True: "identical", False: "differ"}
                lines.append(f"| {prec} | {how.replace('_', ' ')} | {same[v['weights_identical']]} | "
                             f"{same[v['optimizer_state_identical']]} | {same[v['log_identical']]} |")
        lines.append("")
    for path in sorted(folder.glob("epochs*.json")) + sorted(folder.glob("gpu_epochs*.json")):
        ep = _bench(folder, path.stem)
        goals = f"the paper's 5000 epochs in 20 minutes on one GPU ({ep['config']['goal_s_per_epoch']:.2f} s per epoch)"
        if "goal_5_seeds_s_per_epoch" in ep["config"]:
            goals += f", five seeds together at {ep['config']['goal_5_seeds_s_per_epoch']:.2f} s per epoch"
        lines += [f"### Seconds per epoch (`{path.name}`)", "",
                  f"`{ep['provenance']['command']}` on {ep['provenance']['device']}; goals: {goals}.", "",
                  "| precision:compile[:steps[:seeds]] | seeds | s per epoch | per seed | 5000 epochs | goal met |",
                  "|---|---|---|---|---|---|"]
        for k, v in ep["metrics"].items():
            seeds = v.get("seeds_together", 1)
            met = {True: "yes", False: "no", None: "–"}[v["meets_goal"]]
            lines.append(f"| {k} | {seeds} | {v['s_per_epoch']:.2f} | {v['s_per_epoch'] / seeds:.2f} | "
                         f"{v['hours_for_5000_epochs']:.1f} h | {met} |")
        lines.append("")
    return lines


def write_report(results: str | Path = "results", out: str | Path | None = None) -> Path:
    """REPORT.md (or ``out``) and the same as one HTML page, ``results/report/index.html``."""
    results = Path(results)
    out = Path(out) if out else results / "REPORT.md"
    text = render(results)
    out.write_text(text)
    write_html(text, results)
    return out


HTML_STYLE = ("body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;line-height:1.4}"
              "table{border-collapse:collapse;font-size:85%;margin:1em 0}"
              "td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top}th{background:#eee}"
              "img{max-width:100%;border:1px solid #ddd;margin:4px 0}code{font-size:90%}")
# Once the page has loaded: how many images the browser decoded, read by aaekit.report.browser.
HTML_CHECK = ("window.addEventListener('load',function(){var i=Array.from(document.images);"
              "document.body.dataset.imagesTotal=i.length;"
              "document.body.dataset.imagesLoaded=i.filter(function(x){return x.naturalWidth>0}).length;});")


def write_html(text: str, results: Path) -> Path:
    """The Markdown report as one HTML page, ``results/report/index.html``; its links and figures
    point into ``results`` (the page's base is its parent folder)."""
    import markdown

    out = results / "report" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    body = markdown.markdown(text, extensions=["tables"])
    out.write_text('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><base href="../">'
                   f"<title>aaekit: ours beside the paper</title><style>{HTML_STYLE}</style></head>\n"
                   f"<body>\n{body}\n<script>{HTML_CHECK}</script>\n</body></html>\n")
    return out

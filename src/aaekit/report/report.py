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
]


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
                acc = [d["metrics"].get("d_acc_prior") for d in docs]
                codes = [d["metrics"].get("d_acc_codes") for d in docs]
                cells.append("–" if acc[0] is None else f"{_fmt(acc, '{:.2f}')} / {_fmt(codes, '{:.2f}')}")
            elif header.startswith("label measures"):
                cells.append(_label_measures(docs))
            elif header == "wall time":
                cells.append(_minutes([d["provenance"]["wall_time_s"] for d in docs]))
            else:
                cells.append(_fmt([_get(d, path) for d in docs], fmt))
        commits = sorted({d["provenance"]["git_commit"][:8] for d in docs})
        cells.append(", ".join(commits))
        lines.append("| " + " | ".join(cells) + " |")
    devices = sorted({d["provenance"]["device"] for docs in runs.values() for d in docs})
    lines += ["", "Devices: " + "; ".join(devices) + ".", ""]
    for name, docs in sorted(runs.items()):
        d = docs[0]
        rel = d["_dir"].relative_to(results)
        lines += [f"## {name}", "", f"`{d['provenance']['command']}`", ""]
        for fig in ("codes.png", "samples.png", "manifold.png", "walks.png", "style.png"):
            if (d["_dir"] / fig).is_file():
                lines.append(f"![{name} {fig}]({rel}/{fig})")
        lines.append("")
    lines += render_parzen(results)
    return "\n".join(lines)


# The paper's Table 1, MNIST column (nats), as recorded in ../shared/PAPER.md sec. 2: references to
# compare with, not results of ours.
PAPER_PARZEN = {"aae": "340 ± 2"}


def render_parzen(results: Path) -> list[str]:
    runs = collect(results, "parzen.json")
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
                 ", ".join(sorted({str(d["provenance"]["epochs"]) for d in docs})) if kind != "data" else "–",
                 f"{statistics.mean(d['metrics']['eval_time_s'] for d in docs):.0f} s",
                 PAPER_PARZEN.get(kind, "–")]
        lines.append("| " + " | ".join(cells) + " |")
        if kind != "data":  # each model's best seed (by the Parzen score): its samples and neighbours
            top = max(docs, key=lambda d: d["metrics"]["parzen"]["test_ll"])
            if (top["_dir"] / "nearest.png").is_file():
                figures.append(top["_dir"].relative_to(results))
    for rel in figures:
        lines += ["", f"Samples of {rel} (its best seed) beside their nearest training images:", "",
                  f"![nearest neighbours of {rel}]({rel}/nearest.png)"]
    return lines + [""]


def write_report(results: str | Path = "results", out: str | Path | None = None) -> Path:
    results = Path(results)
    out = Path(out) if out else results / "REPORT.md"
    out.write_text(render(results))
    return out

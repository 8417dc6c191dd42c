"""How far a clustering run's paper error depended on a tie: its saved float32 q(y | x) of the
validation images is exactly 1.0 for many images per cluster, and runs made before the log-odds
ranking (:func:`aaekit.metrics.clustering.log_odds`) named each cluster after the first of them.

For each ``assignments.npz`` given: per cluster, how many validation images share the top q; the
paper's test error with the first of the tied images (what runs saved before the ranking report);
its expectation were the head drawn uniformly from the tied images; its least and greatest value
over every choice (bounds that read the test labels: a measure of the spread, never a result); and,
for files that hold the validation logits (saved since), the error with the exact heads.

    python -m aaekit.metrics.head_ties results/clustering/k30/seed*/assignments.npz --out ties.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def tie_spread(q_val: np.ndarray, y_val: np.ndarray, assign_test: np.ndarray, y_test: np.ndarray) -> dict:
    """The paper's test error (%) over the choices a tie at the top of q(y_i | x) leaves each
    cluster i: ``first`` (argmax's pick), ``expected`` (a uniform draw among the tied images),
    ``min`` and ``max``; and ``tied`` (images at the top, per cluster)."""
    q_val, y_val = np.asarray(q_val), np.asarray(y_val)
    assign_test, y_test = np.asarray(assign_test), np.asarray(y_test)
    first = expected = low = high = 0.0
    tied = []
    for i in range(q_val.shape[1]):
        top = np.flatnonzero(q_val[:, i] == q_val[:, i].max())
        members = y_test[assign_test == i]
        wrong = np.array([(members != y_val[t]).sum() for t in top])  # test errors of cluster i, per choice
        tied.append(len(top))
        first, expected, low, high = first + wrong[0], expected + wrong.mean(), low + wrong.min(), high + wrong.max()
    n = 100 / len(y_test)
    return {"tied": tied, "first": first * n, "expected": expected * n, "min": low * n, "max": high * n}


def main(argv: list[str] | None = None) -> int:
    from aaekit.config import DataConfig
    from aaekit.data import load_splits
    from aaekit.metrics.clustering import head_labels
    from aaekit.run import code_version

    parser = argparse.ArgumentParser(prog="python -m aaekit.metrics.head_ties", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="assignments.npz files of clustering runs (MNIST, default split)")
    parser.add_argument("--data-dir", help="MNIST folder (default: $AAEKIT_DATA)")
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    files = {}
    for f in args.files:  # every file read before MNIST is
        try:
            saved = np.load(f)
            missing = {"q_val", "test", "head_labels"} - set(saved.files)
        except (OSError, ValueError, AttributeError) as e:  # AttributeError: a .npy, not an .npz
            missing, why = None, str(e)
        if missing is None or missing:
            print(f"error: {f}: not a clustering run's assignments.npz ("
                  f"{why if missing is None else 'no ' + ', '.join(sorted(missing))})", file=sys.stderr)
            return 1
        files[f] = saved
    splits = load_splits(DataConfig(data_dir=args.data_dir))
    y_val, y_test = splits.val.y.numpy(), splits.test.y.numpy()
    rows = []
    for f, saved in files.items():
        exact = "logits_val" in saved.files  # saved since the log-odds ranking: the exact heads too
        heads = head_labels(saved["logits_val"], y_val) if exact else y_val[saved["q_val"].argmax(0)]
        if not np.array_equal(heads, saved["head_labels"]):
            print(f"error: {f}: its head_labels are not those of its validation scores (not the default split?)",
                  file=sys.stderr)
            return 1
        s = tie_spread(saved["q_val"], y_val, saved["test"], y_test)
        if exact:
            s["exact"] = float(100 * (heads[saved["test"]] != y_test).mean())
        rows.append({"file": f, "tied_median": float(np.median(s["tied"])), "tied_max": max(s["tied"]), **s})
        print(f"{f}: tied per cluster median {rows[-1]['tied_median']:g}, max {rows[-1]['tied_max']}; "
              f"error with the first tied image {s['first']:.2f} %, expected {s['expected']:.2f}, "
              f"over the choices {s['min']:.2f}-{s['max']:.2f}" + (f"; exact {s['exact']:.2f}" if exact else ""))
    if args.out:
        command = "python -m aaekit.metrics.head_ties " + " ".join(argv if argv is not None else sys.argv[1:])
        doc = {"command": command, "provenance": {**code_version(), "numpy": np.__version__}, "rows": rows}
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

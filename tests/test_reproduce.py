"""The registry of the paper's experiments and `aaekit reproduce`."""

import json

import pytest

from aaekit import experiments
from aaekit.cli import main
from aaekit.config import ConfigError
from aaekit.experiments import EXPERIMENTS, REPO, Experiment, seed_status
from aaekit.reproduce import listing, reproduce, results_folder


def test_every_entry_names_a_config_that_loads_and_its_own_results_folder():
    assert len({e.name for e in EXPERIMENTS}) == len(EXPERIMENTS)
    assert len({e.results for e in EXPERIMENTS}) == len(EXPERIMENTS)
    for exp in EXPERIMENTS:
        assert exp.direction in ("lower", "higher") and exp.seeds
        cfg = exp.config_of(exp.seeds[-1], REPO / "results")
        assert cfg.seed == exp.seeds[-1] and cfg.run_dir == REPO / "results" / exp.results / f"seed{exp.seeds[-1]}"
        assert (exp.paper is None) == (experiments.paper_number(exp.paper) is None)
        assert not exp.paper or exp.source, f"{exp.name}: a paper value needs its PAPER.md tag"


def write_run(folder, epochs, checkpoint=False, parzen=False):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"seed": 0, "metrics": {"test_error_pct": 2.0},
                                                     "provenance": {"epochs": epochs, "wall_time_s": 120}}))
    if checkpoint:
        (folder / "checkpoint.pt").write_bytes(b"x")
    if parzen:
        (folder / "parzen.json").write_text("{}")


def test_a_seeds_status_tells_done_partial_outdated_and_missing_runs(tmp_path):
    semi = experiments.get(["semisupervised_100_30_epochs"])[0]  # its config's 150 epochs, stopped at 30
    parzen = experiments.get(["parzen_aae_paper_schedule"])[0]  # 100 epochs, then aaekit eval --parzen
    write_run(tmp_path / semi.results / "seed0", 30)
    write_run(tmp_path / semi.results / "seed1", 20, checkpoint=True)  # resumable
    write_run(tmp_path / semi.results / "seed2", 20)  # other epochs, nothing to resume: never overwritten
    (tmp_path / semi.results / "seed3").mkdir()
    (tmp_path / semi.results / "seed3" / "checkpoint.pt").write_bytes(b"x")
    write_run(tmp_path / parzen.results / "seed0", 100)  # trained, Parzen not yet run
    write_run(tmp_path / parzen.results / "seed1", 100, parzen=True)
    assert [seed_status(semi, s, tmp_path) for s in range(5)] == ["done", "partial", "outdated", "partial",
                                                                  "missing"]
    assert [seed_status(parzen, s, tmp_path) for s in range(3)] == ["evaluate", "done", "missing"]
    lines = listing(["semisupervised_100_30_epochs", "clustering_16"], results=tmp_path)
    assert lines[0].startswith("semisupervised_100_30_epochs") and "partial" in lines[0] and "1/5 seeds" in lines[0]
    assert "1 outdated" in lines[0] and "~6 min" in lines[0]  # 3 seeds to train at the 2 min of the runs there
    assert "missing" in lines[1] and "unknown" in lines[1] and "paper 9.55 ± 2.1 [memory]" in lines[1]


def test_quick_budget_never_writes_under_results_and_names_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="never under results/"):
        results_folder("quick", REPO / "results" / "x")
    with pytest.raises(ConfigError, match="--budget must be one of quick, paper"):
        results_folder("fast", tmp_path)
    with pytest.raises(ConfigError, match="unknown experiment 'table9'"):
        experiments.get(["table9"])


def test_reproduce_quick_trains_once_and_writes_the_report(mnist, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AAEKIT_DATA", str(mnist))
    exp = Experiment("tiny_semi", "Table 2: test error %, 100 labels", "configs/semisupervised/labels_100.yaml",
                     "semisupervised/labels_100", (0, 1), "test_error_pct", "lower", "1.90 ± 0.10", "paper",
                     overrides=("model.encoder_hidden=[64]", "model.decoder_hidden=[64]",
                                "model.discriminator_hidden=[64]"))
    monkeypatch.setattr(experiments, "EXPERIMENTS", (exp,))
    folder = reproduce(["tiny_semi"], "quick", tmp_path / "quick")
    run = folder / exp.results / "seed0"
    doc = json.loads((run / "metrics.json").read_text())
    assert doc["provenance"]["epochs"] == 1 and doc["config"]["data"]["train_subset"] == 1000
    assert not (folder / exp.results / "seed1").exists()  # quick: one seed
    assert "aaekit reproduce tiny_semi --budget quick" in doc["provenance"]["command"]
    report = (folder / "REPORT.md").read_text()
    assert "## The paper's numbers beside ours" in report
    assert "| [tiny_semi](semisupervised/labels_100/) | Table 2" in report
    assert "(seed [0](semisupervised/labels_100/seed0/metrics.json); 1 epochs," in report
    assert "1.90 ± 0.10 [paper] | not judged: 1 of its 2 seeds |" in report  # quick: one seed
    mtime = (run / "metrics.json").stat().st_mtime_ns
    assert main(["reproduce", "tiny_semi", "--budget", "quick", "--results", str(tmp_path / "quick"), "--list"]) == 0
    assert "done" in capsys.readouterr().out
    reproduce(["tiny_semi"], "quick", tmp_path / "quick")  # nothing left to train
    assert (run / "metrics.json").stat().st_mtime_ns == mtime


def test_reproduce_with_nothing_to_train_writes_the_report_aaekit_report_writes(tmp_path, monkeypatch):
    from aaekit.report.report import render

    exp = experiments.get(["semisupervised_100"])[0]
    monkeypatch.setattr(experiments, "EXPERIMENTS", (exp,))
    results = tmp_path / "results"
    for seed in exp.seeds:
        d = results / exp.results / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({
            "experiment": "labels_100", "seed": seed, "metrics": {"test_error_pct": 2.0 + seed, "val_error_pct": 2.0},
            "config": {"model": {"kind": "semisupervised_aae"}, "prior": {"kind": "gaussian"}},
            "provenance": {"git_commit": "abcdef123456", "device": "cpu", "wall_time_s": 60, "epochs": 150,
                           "command": "aaekit train"}}))
    reproduce(None, "paper", results)  # every seed done: nothing is trained
    assert (results / "REPORT.md").read_text() == render(results)
    assert "| **4.00 ± 1.58** (seeds [0]" in render(results)
    assert "hjweide #2, takerum #2] | not reached |" in render(results)  # every seed in: judged


def test_the_report_sets_each_seed_trained_again_with_exact_heads_beside_its_saved_value(tmp_path, monkeypatch):
    from aaekit.report.report import render_paper_vs_ours

    exp = Experiment("k16", "Table 3", "configs/clustering/k16.yaml", "clustering/k16", (0, 1), "cluster_error_pct",
                     "lower", "9.55 ± 2.1", "memory")
    other = Experiment("k30", "Table 3", "configs/clustering/k30.yaml", "clustering/k30", (0, 1), "cluster_error_pct",
                       "lower", "4.10 ± 1.13", "memory")
    monkeypatch.setattr(experiments, "EXPERIMENTS", (exp, other))

    def write(folder, seed, value):
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"seed": seed, "metrics": {"cluster_error_pct": value},
                                                         "provenance": {"epochs": 40, "wall_time_s": 60}}))

    results = tmp_path / "results"
    for seed, saved, exact in ((0, 8.0, 12.0), (1, 9.0, 14.0)):  # as saved within the paper's 9.55, exact not
        write(results / exp.results / f"seed{seed}", seed, saved)
        write(results / exp.results / f"seed{seed}" / "exact_heads", seed, exact)
    for seed, saved in ((0, 3.0), (1, 4.0)):
        write(results / other.results / f"seed{seed}", seed, saved)
    write(results / other.results / "seed0" / "exact_heads", 0, 6.0)  # one seed of two trained again: not shown
    k16, k30 = (line for line in render_paper_vs_ours(results) if line.startswith("| [k"))
    assert "| **8.50 ± 0.71** (seeds [0](clustering/k16/seed0/metrics.json)" in k16
    assert ("; trained again and scored with exact heads: **13.00 ± 1.41** (seeds "
            "[0](clustering/k16/seed0/exact_heads/metrics.json), [1](clustering/k16/seed1/exact_heads/metrics.json))"
            in k16)
    assert "| 9.55 ± 2.1 [memory] | not reached |" in k16  # reached as saved, not once trained again
    assert "exact heads" not in k30 and "| 4.10 ± 1.13 [memory] | **reached** |" in k30

import json

import numpy as np
import pytest
import torch

from aaekit.cli import main


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bad_config_value_gets_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--set", "train.epoch=3", "--out", tmp_path / "r")
    assert code == 2
    assert err.strip() == ("aaekit: error: unknown config key 'train.epoch' (did you mean 'train.epochs'?)")


def test_missing_data_gets_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--data-dir", tmp_path / "nowhere", "--set", "data.download=false",
                           "--out", tmp_path / "r")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "train-images-idx3-ubyte.gz is missing" in err


def test_foreign_checkpoint_gets_one_line(capsys, tmp_path):
    torch.save({"a": 1}, tmp_path / "x.pt")
    code, _, err = run_cli(capsys, "sample", tmp_path / "x.pt")
    assert code == 2 and err.strip() == f"aaekit: error: {tmp_path / 'x.pt'} is not an aaekit checkpoint"


def test_train_eval_sample_compare_on_tiny_data(capsys, tiny_npz, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        f"name: tiny\ndata: {{dataset: {tiny_npz}, val_size: 50}}\n"
        "model: {encoder_hidden: [32], decoder_hidden: [32], discriminator_hidden: [32], init_std: 0.1}\n"
        "prior: {kind: mog}\ntrain: {epochs: 3, batch_size: 20, precision: fp32, progress: false}\n"
    )
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", cfg, "--out", out)
    assert code == 0, err
    assert f"results written to {out}" in stdout
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["experiment"] == "tiny" and doc["seed"] == 0 and doc["config"]["prior"]["kind"] == "mog"
    prov = doc["provenance"]
    assert {"git_commit", "torch", "device", "wall_time_s", "epochs", "command"} <= set(prov)
    assert prov["epochs"] == 3 and prov["device"].endswith("fp32") and prov["wall_time_s"] > 0
    for f in ("codes.png", "codes.npz", "samples.png", "reconstructions.png", "manifold.png", "log.csv"):
        assert (out / f).is_file(), f
    # resume to more epochs
    code, _, err = run_cli(capsys, "train", cfg, "--out", out, "--set", "train.epochs=4", "--resume")
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["provenance"]["epochs"] == 4

    code, stdout, _ = run_cli(capsys, "eval", out, "--device", "cpu")
    assert code == 0
    trained = json.loads((out / "metrics.json").read_text())["metrics"]
    evaluated = json.loads(stdout)
    assert evaluated["recon_mse"] == pytest.approx(trained["recon_mse"], rel=1e-5)
    assert evaluated["d_acc_prior"] == trained["d_acc_prior"]  # the same seeded prior draws
    assert (out / "eval_test.json").is_file()

    code, _, _ = run_cli(capsys, "sample", out, "-n", "7", "--out", tmp_path / "s.npy", "--device", "cpu")
    s = np.load(tmp_path / "s.npy")
    assert code == 0 and s.shape == (7, 64) and 0 <= s.min() and s.max() <= 1
    code, _, _ = run_cli(capsys, "sample", out, "-n", "20", "--out", tmp_path / "s.png", "--device", "cpu")
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 1000

    # sample quality (Table 1 protocol): seeded, so two calls agree; sigma is one of the grid's
    grid = "0.05,0.1,0.2,0.4,0.8"
    code, stdout, err = run_cli(capsys, "eval", out, "--parzen", "--n-samples", "300", "--sigmas", grid)
    assert code == 0, err
    assert "Parzen log-likelihood on test" in stdout
    first = json.loads((out / "parzen.json").read_text())
    run_cli(capsys, "eval", out, "--parzen", "--n-samples", "300", "--sigmas", grid)
    second = json.loads((out / "parzen.json").read_text())
    p = first["metrics"]["parzen"]
    assert p["test_ll"] == second["metrics"]["parzen"]["test_ll"] and np.isfinite(p["test_ll"])
    assert p["sigma"] in [0.05, 0.1, 0.2, 0.4, 0.8] and len(p["val_ll_per_sigma"]) == 5
    assert p["sigma"] == p["sigma_grid"][int(np.argmax(p["val_ll_per_sigma"]))]
    assert first["metrics"]["n_samples"] == 300 and first["provenance"]["eval_time_s"] > 0
    assert first["provenance"]["training"]["epochs"] == 4  # the training run's own record
    assert first["provenance"]["training_epochs"] == 4 and "wall_time_s" not in first["provenance"]
    assert "written to" in stdout and "nearest.png" in stdout and (out / "nearest.png").is_file()
    assert (out / "nearest.png").is_file()
    code, _, err = run_cli(capsys, "eval", out, "--parzen", "--sigmas", "0.1,-1")
    assert code == 2 and "--sigmas must be positive" in err
    code, stdout, err = run_cli(capsys, "parzen-data", cfg, "-n", "200", "--sigmas", grid, "--out", tmp_path / "real")
    assert code == 0, err
    real = json.loads((tmp_path / "real" / "parzen.json").read_text())
    assert real["metrics"]["n_samples"] == 200 and np.isfinite(real["metrics"]["parzen"]["test_ll"])
    code, _, err = run_cli(capsys, "parzen-data", cfg, "-n", "100000", "--out", tmp_path / "real")
    assert code == 2 and "exceeds" in err

    code, _, _ = run_cli(capsys, "compare", out, out, "--out", tmp_path / "fig" / "cmp.png")
    assert code == 0 and (tmp_path / "fig" / "cmp.png").is_file()
    assert json.loads((tmp_path / "fig" / "cmp.sources.json").read_text())[0]["experiment"] == "tiny"
    # the manifold panel (Fig. 2e): one more panel, named in the sources; a run without one is refused
    code, _, err = run_cli(capsys, "compare", out, "--manifold", out, "--out", tmp_path / "fig" / "m.png")
    assert code == 0, err
    assert [s.get("panel") for s in json.loads((tmp_path / "fig" / "m.sources.json").read_text())] == [None, "manifold"]
    code, _, err = run_cli(capsys, "compare", out, "--manifold", tmp_path, "--out", tmp_path / "fig" / "n.png")
    assert code == 2
    assert err.strip() == (f"aaekit: error: {tmp_path} has no manifold.png/metrics.json; "
                           "train a run with a 2-D code there")
    assert not (tmp_path / "fig" / "n.png").exists()


def test_mnist_subset_integration(capsys, mnist, tmp_path):
    """A real (small) AAE run on MNIST through the CLI: the paper's nets and SGD, 2,000 images."""
    out = tmp_path / "mnist"
    code, _, err = run_cli(
        capsys, "train", "--data-dir", mnist, "--out", out, "--set", "data.train_subset=2000",
        "--set", "prior.kind=mog", "--set", "train.epochs=3", "--set", "train.progress=false",
        "--set", "model.encoder_hidden=[256,256]", "--set", "model.decoder_hidden=[256,256]",
        "--set", "model.discriminator_hidden=[256,256]")
    assert code == 0, err
    doc = json.loads((out / "metrics.json").read_text())
    log = (out / "log.csv").read_text().splitlines()
    assert len(log) == 4
    # an untrained decoder outputs ~0.5 everywhere: per-pixel MSE ~0.2; a trained one far less
    assert doc["metrics"]["recon_mse"] < 0.07
    assert doc["metrics"]["val"]["recon_sse"] == pytest.approx(doc["metrics"]["recon_sse"], rel=0.15)


def test_encode_writes_the_codes_and_class_probabilities_of_a_file_of_images(capsys, tiny, tiny_npz, tmp_path):
    from aaekit.run import load_run, train_run

    cfg = tiny("dimred", model={"kind": "dimred_clustering_aae", "code_dim": 2, "n_clusters": 5,
                                "encoder_hidden": [32], "decoder_hidden": [32], "discriminator_hidden": [16],
                                "init_std": 0.1, "head_margin": 1.0})
    train_run(cfg)
    images = np.load(tiny_npz)
    code, stdout, err = run_cli(capsys, "encode", cfg.run_dir, tiny_npz, "--out", tmp_path / "c.npz", "--device",
                                "cpu", "--batch-size", "7")
    assert code == 0, err
    out = np.load(tmp_path / "c.npz")
    assert set(out.files) == {"codes", "class_probs", "reduced", "y"} and np.array_equal(out["y"], images["y"])
    model, _, _ = load_run(cfg.run_dir, "cpu")
    x = torch.from_numpy(images["x"]).float().div(255).reshape(len(images["x"]), -1)
    with torch.no_grad():
        expected = model.encode(x).numpy()
    assert out["codes"].shape == (len(x), 5 + 2) and np.allclose(out["codes"], expected, atol=1e-5)
    assert np.allclose(out["class_probs"].sum(1), 1, atol=1e-5) and np.array_equal(out["class_probs"],
                                                                                   out["codes"][:, :5])
    assert out["reduced"].shape == (len(x), 2)
    # flat images are taken too; .npy holds the codes alone, and says what it left out
    np.save(tmp_path / "flat.npy", images["x"].reshape(len(x), -1)[:10])
    code, stdout, _ = run_cli(capsys, "encode", cfg.run_dir, tmp_path / "flat.npy", "--out", tmp_path / "c.npy")
    assert code == 0 and "not written: class_probs, reduced" in stdout
    assert np.allclose(np.load(tmp_path / "c.npy"), out["codes"][:10], atol=1e-5)
    # images of another size: one line, nothing written
    np.save(tmp_path / "big.npy", np.zeros((3, 9, 9), np.uint8))
    code, _, err = run_cli(capsys, "encode", cfg.run_dir, tmp_path / "big.npy", "--out", tmp_path / "d.npz")
    assert code == 2 and "the images are 9 x 9; this run models 8 x 8 (or 64 flat)" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "d.npz").exists()


def test_report_reads_only_metrics_files(capsys, tmp_path):
    results = tmp_path / "results"
    for seed, sse, comp in ((0, 30.0, 0.9), (1, 34.0, 0.8)):
        d = results / "unsupervised_mog" / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({
            "experiment": "unsupervised_mog", "seed": seed,
            "metrics": {"recon_sse": sse, "recon_mse": sse / 784, "code_std": 1.0, "prior_std": 1.05,
                        "d_acc_prior": 0.6, "d_acc_codes": 0.5, "component_accuracy": comp},
            "config": {"model": {"kind": "aae"}, "prior": {"kind": "mog"}},
            "provenance": {"git_commit": "abcdef123456", "device": "cpu", "wall_time_s": 600, "epochs": 60,
                           "command": "aaekit train configs/unsupervised_mog.yaml"}}))
    code, stdout, _ = run_cli(capsys, "report", "--results", results)
    assert code == 0
    text = (results / "REPORT.md").read_text()
    assert "| AAE | mog | 0, 1 | 32.00 ± 2.83 |" in text
    assert "abcdef12" in text and "10 min" in text and "| own component 0.850 ± 0.071 |" in text


def test_report_tables_parzen_results_over_seeds(capsys, tmp_path):
    results = tmp_path / "results"
    for name, kind, seed, ll in (("parzen/aae", "aae", 0, 300.0), ("parzen/aae", "aae", 1, 310.0),
                                 ("parzen/real_data", "data", 0, 250.0)):
        d = results / name / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "parzen.json").write_text(json.dumps({
            "experiment": name, "seed": seed,
            "metrics": {"parzen": {"test_ll": ll, "test_ll_se": 2.0, "sigma": 0.15,
                                   "val_ll_per_sigma": [ll - 20, 620 - ll]}, "frechet_distance": 3.0,
                        "eval_time_s": 30.0},
            "config": {"model": {"kind": kind}},
            "provenance": {"epochs": 100 if kind == "aae" else 0}}))
    for seed in (0, 1):
        (results / "parzen" / "aae" / f"seed{seed}" / "nearest.png").write_bytes(b"png")
    code, _, _ = run_cli(capsys, "report", "--results", results)
    text = (results / "REPORT.md").read_text()
    assert code == 0
    row = ("| [parzen/aae](parzen/aae/) | AAE | 0, 1 | 305.0 ± 7.1 | 2.0 | 0.150 ± 0.000 | 3.00 ± 0.00 | 100 | 30 s "
           "| 340 ± 2 |")
    assert row in text
    assert "| [parzen/real_data](parzen/real_data/) | DATA | 0 | 250.0 |" in text
    # the figure is of the best seed on validation (seed 0: 320 against 310), not on test (seed 1)
    assert "(parzen/aae/seed0/nearest.png)" in text and "seed1/nearest.png" not in text


def test_report_tables_semisupervised_error_beside_the_paper(capsys, tmp_path):
    results = tmp_path / "results"
    for folder, seed, test, val in (("semisupervised/labels_100", 0, 4.0, 3.0),
                                    ("semisupervised/labels_100", 1, 2.0, 5.0),
                                    ("semisupervised/nn_baseline/labels_all", 0, 1.5, 1.4)):
        d = results / folder / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "confusion.png").write_bytes(b"png")
        (d / "metrics.json").write_text(json.dumps({
            "experiment": folder, "seed": seed, "metrics": {"test_error_pct": test, "val_error_pct": val},
            "config": {"model": {"kind": "semisupervised_aae"}, "prior": {"kind": "gaussian"}},
            "provenance": {"git_commit": "abcdef123456", "device": "cpu", "wall_time_s": 600, "epochs": 30,
                           "command": "aaekit train"}}))
    code, _, _ = run_cli(capsys, "report", "--results", results)
    text = (results / "REPORT.md").read_text()
    assert code == 0 and "## Semi-supervised classification (paper Table 2)" in text
    assert "| aaekit's recipe (`configs/semisupervised/labels_<n>.yaml`: 150 epochs with 100 labels, 100 with 1000 " \
           "and all) | **3.00 ± 1.41** (4.00 ± 1.41); 2 seeds, 30 epochs, 10 min | – | – |" in text
    assert "| the encoder on the labelled images alone | – | – | **1.50** (1.40); 1 seed, 30 epochs, 10 min |" in text
    assert "| AAE (the paper: 5000 epochs) | 1.90 ± 0.10 | 1.60 ± 0.08 | 0.85 ± 0.02 |" in text
    assert "the paper's recipe" not in text  # no runs, no row
    assert "Devices: cpu." in text
    # the figures are of the best seed on validation (seed 0: 3.0 against 5.0), not on test (seed 1)
    assert "(semisupervised/labels_100/seed0/confusion.png)" in text and "labels_100/seed1/confusion" not in text


def test_report_tables_clustering_and_dimred_beside_the_paper(capsys, tmp_path):
    results = tmp_path / "results"
    runs = (("clustering/k16", 0, {"cluster_error_pct": 20.0, "nmi": 0.7, "ari": 0.6, "empty_clusters": 1,
                                   "val": {"cluster_error_pct": 25.0}}),
            ("clustering/k16", 1, {"cluster_error_pct": 10.0, "nmi": 0.8, "ari": 0.7, "empty_clusters": 0,
                                   "val": {"cluster_error_pct": 30.0}}),
            ("dimred/semisupervised_1000", 0, {"test_error_pct": 5.0, "val_error_pct": 5.5,
                                               "head_min_distance": 1.2}))
    for folder, seed, metrics in runs:
        d = results / folder / f"seed{seed}"
        d.mkdir(parents=True)
        for fig in ("clusters.png", "map.png") if folder.startswith("clustering") else ("map.png",):
            (d / fig).write_bytes(b"png")
        (d / "metrics.json").write_text(json.dumps({
            "experiment": folder, "seed": seed, "metrics": metrics,
            "config": {"model": {"kind": "clustering_aae"}, "prior": {"kind": "gaussian"}},
            "provenance": {"git_commit": "abcdef123456", "device": "cpu", "wall_time_s": 600, "epochs": 20,
                           "command": "aaekit train"}}))
    for seed, test, val in ((0, 24.0, 26.0), (1, 12.0, 32.0)):  # each k16 seed trained again, exact heads
        d = results / "clustering/k16" / f"seed{seed}" / "exact_heads"
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps({
            "seed": seed, "metrics": {"cluster_error_pct": test, "val": {"cluster_error_pct": val}},
            "provenance": {"epochs": 20, "wall_time_s": 600}}))
    code, _, _ = run_cli(capsys, "report", "--results", results)
    text = (results / "REPORT.md").read_text()
    assert code == 0 and "## Clustering and dimensionality reduction" in text
    assert ("| the same runs trained again, exact heads (`seed<N>/exact_heads/`) | **18.00 ± 8.49** (29.00 ± 4.24) "
            "| | | | | | |") in text
    assert text.count("trained again, exact heads (") == 1  # the dimred set was not trained again
    assert ("| [Table 3: clustering error %, 16 clusters](clustering/k16/) | **15.00 ± 7.07** (27.50 ± 3.54) "
            "| 0.750 ± 0.071 | 0.650 ± 0.071 | 0.5 ± 0.7 | – | 0, 1; 20 epochs; 10 min | 9.55 ± 2.1 [memory] |") in text
    assert "| **5.00** (5.50) | – | – | – | 1.20 |" in text
    assert "30 clusters" not in text  # no runs, no row
    # the figures are of the best seed on validation (seed 0: 25 % against 30 %), not on test (seed 1)
    assert "(clustering/k16/seed0/clusters.png)" in text and "k16/seed1/clusters" not in text
    assert "(dimred/semisupervised_1000/seed0/map.png)" in text


def test_report_tables_the_cnn_nets_speed_against_the_mlp(capsys, tmp_path):
    bench = tmp_path / "results" / "bench"
    bench.mkdir(parents=True)
    (bench / "throughput_nets.json").write_text(json.dumps({
        "metrics": {"samples_per_s": {"aaekit_mlp": 8000.0, "aaekit_dcgan": 6000.0},
                    "peak_memory_mb": {"aaekit_mlp": 900.0}},
        "config": {"batch_size": 100, "rounds": 3},
        "provenance": {"command": "python benchmarks/throughput.py --nets", "device": "cpu",
                       "git_commit": "abcdef123456"}}))
    code, _, _ = run_cli(capsys, "report", "--results", tmp_path / "results")
    text = (tmp_path / "results" / "REPORT.md").read_text()
    assert code == 0 and "### The CNN ablation's nets" in text
    assert "| mlp | 8000 | 1.00x | 900 |" in text and "| dcgan | 6000 | 0.75x | – |" in text


def test_report_tables_the_cnn_ablation_with_each_switch_against_its_base(capsys, tmp_path):
    """One table per ablation folder: each net's mean ± std over seeds, then each switch minus its base;
    the ablation's parzen runs stay out of the Table 1 section."""
    root = tmp_path / "results" / "cnn_ablation" / "trial"
    prov = {"git_commit": "abcdef123456", "git_dirty": False, "device": "cuda", "wall_time_s": 60, "epochs": 10,
            "command": "aaekit train"}
    nets_errors_ll = (("mlp", (4.0, 6.0), 300.0), ("cnn", (3.0, 3.0), 280.0), ("cnn_batchnorm", (2.0, 2.0), 290.0))
    for nets, errors, ll in nets_errors_ll:
        for seed, err in enumerate(errors):
            d = root / nets / "semisupervised_100" / f"seed{seed}"
            d.mkdir(parents=True)
            (d / "metrics.json").write_text(json.dumps({
                "seed": seed, "metrics": {"test_error_pct": err}, "provenance": prov,
                "config": {"model": {"kind": "semisupervised_aae"}, "prior": {"kind": "gaussian"}}}))
        d = root / nets / "parzen" / "seed0"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({
            "seed": 0, "metrics": {"recon_sse": 12.0}, "provenance": {**prov, "epochs": 20},
            "config": {"model": {"kind": "aae"}, "prior": {"kind": "gaussian"}}}))
        (d / "parzen.json").write_text(json.dumps({
            "seed": 0, "metrics": {"parzen": {"test_ll": ll, "test_ll_se": 2.0, "sigma": 0.15,
                                              "val_ll_per_sigma": [ll]}, "frechet_distance": 5.0,
                                   "eval_time_s": 3.0},
            "config": {"model": {"kind": "aae"}}, "provenance": {"epochs": 20}}))
    code, _, _ = run_cli(capsys, "report", "--results", tmp_path / "results")
    text = (tmp_path / "results" / "REPORT.md").read_text()
    assert code == 0 and "## The CNN ablation: [cnn_ablation/trial](cnn_ablation/trial/)" in text
    assert "parzen 20, semisupervised_100 10" in text and "abcdef12" in text
    assert "| mlp | 300.0 (1) | 5.0 (1) | 12.00 (1) | 5.00 ± 1.41 (2) | – |" in text
    assert "| cnn − mlp | -20.0 | +0.0 | +0.00 | -2.00 | – |" in text
    assert "| cnn_batchnorm − cnn | +10.0 | +0.0 | +0.00 | -1.00 | – |" in text
    assert "| cnn_all_conv − cnn | – | – | – | – | – |" in text
    assert "## Sample quality (paper Table 1)" not in text


def test_code_version_records_a_given_commit_beside_what_git_sees(monkeypatch):
    """A copied tree whose .git is of another commit: $AAEKIT_CODE_COMMIT names the code's commit,
    the record says it was given and keeps git's own view; unset, git's view is the record."""
    from aaekit.run import code_version

    monkeypatch.delenv("AAEKIT_CODE_COMMIT", raising=False)
    seen = code_version()
    assert set(seen) == {"git_commit", "git_dirty"}
    monkeypatch.setenv("AAEKIT_CODE_COMMIT", "0123abc")
    given = code_version()
    assert given["git_commit"] == "0123abc" and given["git_dirty"] is None
    assert given["git_commit_source"] == "given by $AAEKIT_CODE_COMMIT" and given["git_seen_there"] == seen


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("aaekit 0.")


def test_parzen_on_flat_data_claims_no_figure(capsys, tmp_path):
    """Flat (N, D) data have no image form: --parzen writes parzen.json and says only that."""
    from conftest import make_images

    x, _ = make_images(300)
    np.save(tmp_path / "flat.npy", x.reshape(300, -1))
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--set", f"data.dataset={tmp_path / 'flat.npy'}",
                           "--set", "data.val_size=50",
                           "--set", "train.epochs=1", "--set", "train.batch_size=50", "--set", "train.progress=false",
                           "--set", "model.encoder_hidden=[16]", "--set", "model.decoder_hidden=[16]",
                           "--set", "model.discriminator_hidden=[16]", "--out", out)
    assert code == 0, err
    code, stdout, err = run_cli(capsys, "eval", out, "--parzen", "--n-samples", "100", "--sigmas", "0.1,0.2")
    assert code == 0, err
    assert stdout.strip().endswith(f"written to {out}/parzen.json") and not (out / "nearest.png").exists()


def test_train_seeds_together_from_the_command_line(capsys, tiny_npz, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        f"name: tiny\ndata: {{dataset: {tiny_npz}, val_size: 50}}\n"
        "model: {encoder_hidden: [32], decoder_hidden: [32], discriminator_hidden: [32], init_std: 0.1}\n"
        "train: {epochs: 1, batch_size: 20, precision: fp32, progress: false}\n"
    )
    out = tmp_path / "runs"
    code, stdout, err = run_cli(capsys, "train", cfg, "--out", out, "--set", "train.seeds=[4, 7]")
    assert code == 0, err
    for seed in (4, 7):
        assert f"results written to {out / f'seed{seed}'}/" in stdout
        doc = json.loads((out / f"seed{seed}" / "metrics.json").read_text())
        assert doc["seed"] == seed and doc["provenance"]["trained_together"]["seeds"] == [4, 7]
    code, _, err = run_cli(capsys, "train", cfg, "--out", out, "--set", "train.seeds=[4, 4]")
    assert code == 2 and err.strip() == ("aaekit: error: config key 'train.seeds': must be distinct integers >= 0, "
                                         "got [4, 4]")

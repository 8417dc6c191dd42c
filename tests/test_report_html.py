"""The report as an HTML page, checked in a real browser (headless Chromium) where one is installed."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from aaekit.report.browser import check_page, find_browser  # noqa: E402
from aaekit.report.report import write_report  # noqa: E402


def fake_results(tmp_path):
    results = tmp_path / "results"
    for seed, err in ((0, 3.0), (1, 2.0)):
        d = results / "semisupervised" / "labels_100" / f"seed{seed}"
        d.mkdir(parents=True)
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.imshow(np.eye(10))
        fig.savefig(d / "confusion.png")
        plt.close(fig)
        (d / "metrics.json").write_text(json.dumps({
            "experiment": "labels_100", "seed": seed, "metrics": {"test_error_pct": err, "val_error_pct": err},
            "config": {"model": {"kind": "semisupervised_aae"}, "prior": {"kind": "gaussian"}},
            "provenance": {"git_commit": "abcdef123456", "device": "cpu", "wall_time_s": 60, "epochs": 30,
                           "command": "aaekit train"}}))
    return results


def test_the_report_is_also_one_html_page_whose_links_point_into_results(tmp_path):
    results = fake_results(tmp_path)
    write_report(results)
    page = (results / "report" / "index.html").read_text()
    assert '<base href="../">' in page and page.count("<table") >= 2
    assert '<img alt="semisupervised/labels_100/seed1 confusion.png" src="semisupervised/labels_100/seed1/' \
           'confusion.png"' in page  # the best seed on validation, resolved against results/
    assert "<td><strong>2.50 ± 0.71</strong>" in page  # ours beside the paper, from the registry


@pytest.mark.skipif(find_browser() is None, reason="no Chromium installed (apt-get install chromium)")
def test_the_html_report_renders_its_tables_and_figures_in_chromium(tmp_path):
    results = fake_results(tmp_path)
    write_report(results)
    shot = tmp_path / "shot.png"
    seen = check_page(results / "report" / "index.html", shot)
    assert seen["tables"] >= 2 and seen["images"] >= 1 and seen["images_loaded"] == seen["images"]
    pixels = plt.imread(shot)
    assert pixels.shape[:2] == (3000, 1400) and pixels[..., :3].std() > 0.05  # not a blank page

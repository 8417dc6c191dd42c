# `make demo` and `make test` work on a fresh machine: each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# MNIST comes from ../shared/data/mnist where that folder exists (see README: Data).
SHARED_MNIST := $(abspath ../shared/data/mnist)
ifneq ($(wildcard $(SHARED_MNIST)/SHA256SUMS),)
export AAEKIT_DATA ?= $(SHARED_MNIST)
endif

.PHONY: demo test package-check report-check reproduce-quick bench figure2 parzen report clean

$(BIN)/aaekit: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch resolves to a multi-GB CUDA build.
	$(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[test,tensorboard]"
	touch $(BIN)/aaekit

demo: $(BIN)/aaekit
	$(BIN)/aaekit train configs/demo.yaml --overwrite

test: $(BIN)/aaekit
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

# Every experiment of the registry for one epoch on 1000 images, one seed, into a scratch folder:
# the whole pipeline (train, evaluations, report) as a smoke check; a few minutes on 2 cores.
reproduce-quick: $(BIN)/aaekit
	rm -rf runs/reproduce_quick
	$(BIN)/aaekit reproduce --budget quick

# The sdist and wheel built, the wheel installed into a fresh venv and run from outside the checkout.
package-check: $(BIN)/aaekit
	.ci/package_check

# The paper's Fig. 2 (AAE vs VAE, Gaussian vs mixture prior, 2-D codes) and the swiss roll: the
# registry's runs (aaekit.experiments; resumed where they stopped), then the figure of seed 0 (the
# lowest seed, not a choice) with the Gaussian AAE's manifold (Fig. 2e), and the report.
FIG2_RUNS := unsupervised_gaussian unsupervised_mog unsupervised_swissroll vae_gaussian vae_mog
figure2: $(BIN)/aaekit
	$(BIN)/aaekit reproduce figure2_aae_gaussian figure2_aae_mog swissroll figure2_vae_gaussian figure2_vae_mog
	$(BIN)/aaekit compare $(foreach c,$(FIG2_RUNS),results/$(c)/seed0) --manifold results/unsupervised_gaussian/seed0 \
		--ncol 3 --out results/figure2/figure2.png
	$(BIN)/aaekit report

# The paper's Table 1: the 8-D AAE and the VAE (3 seeds each, the registry's parzen_aae, the recipe
# that reaches the paper's 340 nats: 200 epochs, about 4 h a seed on one CPU core, and parzen_vae)
# trained and scored by a Parzen window, beside real training images used as samples.
parzen: $(BIN)/aaekit
	$(BIN)/aaekit reproduce parzen_aae parzen_vae
	test -f results/parzen/real_data/seed0/parzen.json || $(BIN)/aaekit parzen-data --out results/parzen/real_data/seed0
	$(BIN)/aaekit report

report: $(BIN)/aaekit
	$(BIN)/aaekit report

# The report's HTML page in a real browser (headless Chromium: apt-get install chromium): every table
# laid out, every figure decoded, a screenshot in runs/report_screenshot.png.
report-check: report
	mkdir -p runs
	$(BIN)/python -m aaekit.report.browser results/report/index.html runs/report_screenshot.png

bench: $(BIN)/aaekit
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[bench]"
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/equivalence.py
	$(BIN)/python benchmarks/batch_size.py
	$(BIN)/python benchmarks/epochs.py
	$(BIN)/aaekit report

clean:
	rm -rf $(VENV) runs

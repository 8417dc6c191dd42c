# `make demo` and `make test` work on a fresh machine: each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# MNIST comes from ../shared/data/mnist where that folder exists (see README: Data).
SHARED_MNIST := $(abspath ../shared/data/mnist)
ifneq ($(wildcard $(SHARED_MNIST)/SHA256SUMS),)
export AAEKIT_DATA ?= $(SHARED_MNIST)
endif

.PHONY: demo test lint bench clean

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

bench: $(BIN)/aaekit
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs

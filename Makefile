# scopecount: `make run` (the instrument, simulated hardware) and `make test` (the test suite).
# `make run` keeps its records in ./records/ (ignored by git; `make clean` leaves them).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint models bench clean pi-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The bench never needs torch: `run` installs the base package only.
$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.train: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[train,dev]'
	touch $@ $(VENV)/.base

run: $(VENV)/.base
	$(BIN)/scopecount run --sim --storage records --local-storage --spool records/.spool

test: $(VENV)/.train
	bash .ci/services.sh
	$(BIN)/ruff check device export tests
	$(BIN)/ruff format --check device export tests
	$(BIN)/pytest -q -ra

lint: $(VENV)/.train
	$(BIN)/ruff check device export tests
	$(BIN)/ruff format --check device export tests

# Rebuild the shipped default model from synthetic vials (about 6 minutes on 2 cores).
models: $(VENV)/.train
	$(BIN)/python -m export.make_default_model

bench: $(VENV)/.train
	$(BIN)/pip install -q -e ".[train,dev,bench]"
	$(BIN)/python -m tests.benchmarks.run

# The bench on an emulated Raspberry Pi (qemu-system-aarch64, Debian 12 arm64, systemd, the real
# install.sh and units): slow, as root, not part of `make test`. The image is built once and
# cached in ~/.cache/scopecount-pi. Last line: `pi-test: N passed, N failed`.
pi-test: $(VENV)/.base
	bash tests/pi/setup-host.sh
	bash tests/pi/build-image.sh
	$(BIN)/python -m tests.pi.pitest

clean:
	rm -rf $(VENV) .pytest_cache

# scopecount: `make run` (the instrument, simulated hardware) and `make test` (the test suite).
# `make run` keeps its records in ./records/ (ignored by git; `make clean` leaves them).
# Every install goes through one lock, .ci/requirements.lock (pip constraints for Linux x86_64
# and aarch64, Python 3.11 and 3.13): a fresh clone gets the versions the tests passed with.
# `make lock` updates it; `make test-latest` tries the newest releases and reports what breaks.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := .ci/requirements.lock
PIP    := $(BIN)/pip install -q -c $(LOCK)

.PHONY: run test lint lock test-latest models bench clean pi-test pi-crash train-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The bench never needs torch: `run` installs the base package only.
$(VENV)/.base: pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.train: pyproject.toml $(LOCK) | $(BIN)/python
	$(PIP) -e '.[train,dev]'
	touch $@ $(VENV)/.base

# The training tools for `scopecount train`/`evaluate` on a laptop: torch's CPU build, and only
# torch, from PyTorch's own index (pip's default would fetch the multi-GB CUDA build), then the
# rest from PyPI. TORCH_INDEX= leaves torch to pip's own settings (a wheel at hand, as CI has).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
train-tools: $(VENV)/.base
	$(if $(TORCH_INDEX),$(PIP) torch --index-url $(TORCH_INDEX))
	$(PIP) -e '.[train]'

run: $(VENV)/.base
	$(BIN)/scopecount run --sim --storage records --local-storage --spool records/.spool

test: $(VENV)/.train
	bash .ci/services.sh
	$(BIN)/ruff check device export tests .ci
	$(BIN)/ruff format --check device export tests .ci
	$(BIN)/pytest -q -ra

lint: $(VENV)/.train
	$(BIN)/ruff check device export tests .ci
	$(BIN)/ruff format --check device export tests .ci

# Resolve pyproject.toml's ranges again (newest releases that fit, apt's numpy on the Pi) into
# the lock, for every platform and Python the project installs on. Review the diff, run
# `make test`, commit the lock.
lock: $(VENV)/.train
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	  --extra pi --extra train --extra dev --extra bench \
	  -c .ci/apt-versions.txt -o $(LOCK) --upgrade

# The suite on the newest releases pyproject.toml allows, in a throwaway venv (removed after): a
# report of what moved and which tests it breaks (the lock and .venv are left alone). Exit 1 when
# something broke. ARGS go to pytest: make test-latest ARGS="-x tests/measuring".
test-latest:
	$(PYTHON) .ci/test_latest.py $(ARGS)

# Rebuild the shipped default model from synthetic vials (about 6 minutes on 2 cores).
models: $(VENV)/.train
	$(BIN)/python -m export.make_default_model

bench: $(VENV)/.train
	$(PIP) -e ".[train,dev,bench]"
	$(BIN)/python -m tests.benchmarks.run

# The bench on an emulated Raspberry Pi (qemu-system-aarch64, Debian 12 Bookworm and Debian 13
# Trixie arm64, systemd, the real install.sh and units): slow, as root, not part of `make test`.
# Images are built once and cached in ~/.cache/scopecount-pi/<os>. PI_OS=bookworm or trixie runs
# one. Last line: `pi-test: N passed, N failed`.
PI_OS ?= bookworm trixie
pi-test: $(VENV)/.base
	$(PIP) onnx  # writes the areas model scenario d deploys
	bash tests/pi/setup-host.sh
	for os in $(PI_OS); do bash tests/pi/build-image.sh $$os || exit 2; done
	$(BIN)/python -m tests.pi.pitest $(PI_OS)

# Power cuts as the flash sees them (Trixie image): the bench's disks behind dm-log-writes in the
# VM, every flush point and seeded states between flushes rebuilt here, repaired (fsck) and
# checked for every acknowledged record exactly once and a whole model store. Rows
# `pi-crash: trixie dm-log-writes vfat stick: N crash points, 0 lost: pass`; last line
# `pi-crash: N passed, N failed`. As root, about 15 min with the image cached; files in
# ~/.cache/scopecount-pi/trixie/crash. ARGS go to tests/pi/picrash.py (--help: --subsets, --seed,
# --reuse, --only).
pi-crash: $(VENV)/.base
	bash tests/pi/setup-host.sh
	bash tests/pi/build-image.sh trixie || exit 2
	$(BIN)/python -m tests.pi.picrash $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

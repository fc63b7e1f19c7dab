"""Training that shares a busy laptop: waiting threads sleep, and the model stays the same."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from tests.conftest import run_cli
from tests.support.folders import squares_folder

SPIN = [sys.executable, "-c", "while True: pass"]


def _policy(env: dict[str, str]) -> str:
    code = "import export, os; print(os.environ.get('OMP_WAIT_POLICY', '-'))"
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=clean | env, capture_output=True)
    return out.stdout.decode().strip()


def test_training_threads_sleep_while_they_wait_unless_told_otherwise():
    assert _policy({}) == "PASSIVE"
    assert _policy({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"  # the user's choice stays
    assert _policy({"GOMP_SPINCOUNT": "1000"}) == "-"


def _weights(model: Path) -> list[np.ndarray]:
    return [numpy_helper.to_array(t) for t in onnx.load(str(model)).graph.initializer]


def test_two_training_threads_beside_two_busy_processes_make_the_same_model(tmp_path):
    folder = squares_folder(tmp_path / "f")
    args = ["train", str(folder), "--steps", "30", "--threads", "2"]
    run_cli(*args, "--out", str(tmp_path / "quiet.onnx"))
    busy = [subprocess.Popen(SPIN) for _ in range(2)]
    try:
        run_cli(*args, "--out", str(tmp_path / "busy.onnx"))
    finally:
        for p in busy:
            p.kill()
            p.wait()
    quiet = _weights(tmp_path / "quiet.float.onnx")
    loaded = _weights(tmp_path / "busy.float.onnx")
    assert len(quiet) == len(loaded) > 0
    assert all(np.array_equal(a, b) for a, b in zip(quiet, loaded, strict=True))

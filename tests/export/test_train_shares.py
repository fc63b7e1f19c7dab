"""Training that shares a busy laptop: waiting threads sleep, and the model stays the same."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from export.omp_wait import choose_wait, cores_busy_elsewhere
from tests.conftest import run_cli
from tests.support.folders import squares_folder

SPIN = [sys.executable, "-c", "while True: pass"]


def _env(env: dict[str, str], then: str = "import torch") -> str:
    get = "os.environ.get('OMP_WAIT_POLICY', '-'), os.environ.get('GOMP_SPINCOUNT', '-')"
    code = f"import export, os; {then}; print({get})"
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=clean | env, capture_output=True)
    return out.stdout.decode().strip()


def test_waiting_threads_sleep_on_a_busy_machine_and_spin_briefly_on_a_quiet_one():
    assert choose_wait(2.0) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert choose_wait(0.6) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert choose_wait(0.1) == {"GOMP_SPINCOUNT": "5000"}
    assert choose_wait(None) == {"GOMP_SPINCOUNT": "5000"}  # cannot tell: as on a quiet one


def test_loading_the_training_side_sets_one_way_to_wait_unless_the_user_chose():
    assert _env({}) in ("PASSIVE -", "- 5000")
    assert _env({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE -"  # the user's choice stays
    assert _env({"GOMP_SPINCOUNT": "1000"}) == "- 1000"


def test_work_that_never_loads_torch_does_not_look_at_the_machine():
    assert _env({}, then="import export.folder") == "- -"


def test_busy_cores_are_read_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 ...\n")
    assert cores_busy_elsewhere(0.0, stat, cores=2) is None  # no time passed: cannot tell
    assert cores_busy_elsewhere(0.0, tmp_path / "absent", cores=2) is None


def test_a_busy_process_is_seen():
    spin = subprocess.Popen(SPIN)
    try:
        time.sleep(0.3)
        busy = cores_busy_elsewhere(0.5)
    finally:
        spin.kill()
        spin.wait()
    assert busy is not None and busy >= 0.5


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


def test_minutes_bound_the_zoom_check_and_the_model_together(tmp_path):
    """--minutes is the whole run's bound: a third goes to the zoom check's first model, its cut
    is said as that (not as a weaker model of yours), and the model kept trains no less than the
    one thrown away; the file records threads and seed."""
    folder = squares_folder(tmp_path / "f", images=4)  # 4: enough for the zoom check
    out = tmp_path / "m.onnx"
    proc = run_cli("train", str(folder), "--out", str(out), "--steps", "100000", "--minutes", "0.1")
    err = proc.stderr.decode()
    assert err.count("a third of --minutes stopped the zoom check's first model") == 1, err
    assert err.count("warning: --minutes stopped training after") == 1, err
    kept = out if out.exists() else out.with_suffix(".float.onnx")
    meta = {p.key: p.value for p in onnx.load(str(kept)).metadata_props}
    training = json.loads(meta["scopecount.training"])
    assert training["stopped_early"] is True and 0 < training["steps"] < 100000
    assert (training["threads"], training["seed"]) == (1, 0)  # what makes the same model again


def test_more_threads_than_cores_is_said(tmp_path, capsys):
    from export.train import TrainOptions, check_options

    check_options(tmp_path / "m.onnx", TrainOptions(threads=(os.cpu_count() or 1) + 1))
    assert "train slower, not faster" in capsys.readouterr().err
    check_options(tmp_path / "m.onnx", TrainOptions(threads=1))
    assert capsys.readouterr().err == ""


def test_the_model_kept_trains_no_less_than_the_zoom_checks(tmp_path, monkeypatch):
    """Where starting and the zoom check took all of a short --minutes, the model kept still
    gets the third the first model had, not the seconds left."""
    import export.train as train_mod

    folder = squares_folder(tmp_path / "f", images=4)
    now = [1000.0]
    given: dict[str, float | None] = {}

    def check(folder, opts, train_on):  # the first model and the check: all of --minutes
        given["check"] = opts.minutes
        now[0] += 60.0
        return None

    def final(folder, out, opts, zr=None, t0=None):
        given["final"] = opts.minutes
        return None

    monkeypatch.setattr(train_mod.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(train_mod, "held_back_range", check)
    monkeypatch.setattr(train_mod, "train_on", final)
    train_mod.train(folder, tmp_path / "m.onnx", train_mod.TrainOptions(minutes=1.0))
    assert given == {"check": 1.0 / 3, "final": 1.0 / 3}

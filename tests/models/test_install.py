"""A non-editable install (what `pip install .` on a Pi does) carries the shipped models and the
annotate page, and installs without setuptools' package warnings."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, local_storage, squares_image, write_png

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, str]:
    """`pip install --no-deps --target DIR .`: the package alone, run with this venv's deps."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
        + ["--target", str(target), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return target, proc.stdout + proc.stderr


def cli(
    target: Path, cwd: Path, *args: str, **kw
) -> subprocess.Popen | subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(target), XDG_CACHE_HOME=str(cwd / "cache"))
    env.pop("SCOPECOUNT_DEFAULT_MODEL", None)
    cmd = [sys.executable, "-m", "device.cli.main", *args]
    if kw.get("popen"):
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_install_prints_no_package_warning(installed):
    _, log = installed
    assert "absent from the `packages` configuration" not in log
    assert "Package would be ignored" not in log


def test_installed_package_carries_models_and_page(installed):
    target, _ = installed
    assert (target / "scopecount_models" / "drosophila-eggs-demo.onnx").is_file()
    assert (target / "export" / "annotate" / "index.html").is_file()


def test_installed_count_finds_the_shipped_model(installed, tmp_path):
    target, _ = installed
    img = write_png(tmp_path / "a.png", squares_image([(24, 24)]))
    proc = cli(target, tmp_path, "count", str(img), "--json")
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["model"] == "drosophila-eggs-demo"


def test_installed_run_sim_headless_starts(installed, tmp_path):
    target, _ = installed
    p = cli(
        target,
        tmp_path,
        "run",
        "--sim",
        "--headless",
        *local_storage(tmp_path),
        popen=True,
    )
    try:
        end = time.monotonic() + 90
        ev = {}
        while time.monotonic() < end and ev.get("event") != "ready":
            line = p.stdout.readline()
            assert line, f"exited {p.wait()}"
            ev = json.loads(line)
        assert ev["event"] == "ready" and ev["model"] == "drosophila-eggs-demo"
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0

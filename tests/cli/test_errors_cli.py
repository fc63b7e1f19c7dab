"""Bad input named in one line, exit 2, before anything is created."""

import glob
import socket
import time
from pathlib import Path

import pytest

from device import config
from tests.conftest import run_cli, squares_image, write_png
from tests.support.cli_checks import one_line_error


def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "plain-file"
    f.write_text("x")
    return f


def run_args(tmp_path: Path, spot_model: Path, **over: str) -> list[str]:
    opts = {
        "--storage": str(tmp_path / "rec"),
        "--spool": str(tmp_path / "spool"),
        "--model": str(spot_model),
    } | over
    return ["run", "--sim", "--headless", "--local-storage"] + [
        x for kv in opts.items() for x in kv
    ]


def test_run_unwritable_spool(tmp_path, spot_model):
    (tmp_path / "rec").mkdir()
    bad = a_file(tmp_path) / "spool"
    proc = run_cli(*run_args(tmp_path, spot_model, **{"--spool": str(bad)}), timeout=60)
    one_line_error(proc, "--spool", str(bad))


def test_run_spool_is_made_like_mkdir_not_a_new_tree(tmp_path, spot_model):
    """On a laptop the Pi's spool (/var/lib/scopecount/spool) must not appear: only the last
    part of a spool path is created, and the config's spool names the way to run here."""
    (tmp_path / "rec").mkdir()
    deep = tmp_path / "var-lib" / "scopecount" / "spool"
    proc = run_cli(*run_args(tmp_path, spot_model, **{"--spool": str(deep)}), timeout=60)
    one_line_error(proc, "--spool", str(deep), "no such folder (nor")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\nspool = "{deep}"\n')
    args = ["run", "--sim", "--headless", "--local-storage", "--storage", str(tmp_path / "rec")]
    proc = run_cli(*args, "--model", str(spot_model), "--config", str(cfg), timeout=60)
    one_line_error(proc, "[storage] spool", "not installed here", "make run")
    assert not (tmp_path / "var-lib").exists()


def test_run_local_storage_must_exist(tmp_path, spot_model):
    typo = tmp_path / "typo" / "path"
    proc = run_cli(*run_args(tmp_path, spot_model, **{"--storage": str(typo)}), timeout=60)
    one_line_error(proc, "--storage", str(typo), "no such folder (nor")
    assert not (tmp_path / "typo").exists() and not (tmp_path / "spool").exists()


def test_run_bad_model_creates_nothing(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk" * 10)
    proc = run_cli(*run_args(tmp_path, bad, **{"--storage": str(tmp_path / "rec")}), timeout=60)
    one_line_error(proc, "bad.onnx")
    assert not (tmp_path / "spool").exists()


@pytest.mark.skipif(bool(glob.glob("/dev/gpiochip*")), reason="this machine has GPIO")
def test_run_without_sim_off_a_pi_says_what_is_missing(tmp_path, spot_model):
    (tmp_path / "rec").mkdir()
    args = [a for a in run_args(tmp_path, spot_model) if a != "--sim"]
    proc = run_cli(*args, timeout=60)
    one_line_error(proc, "GPIO", "scopecount run --sim")
    assert "BadPinFactory" not in proc.stderr.decode()


def test_count_unwritable_overlay(tmp_path, spot_model):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24)]))
    bad = a_file(tmp_path) / "ov"
    proc = run_cli("count", str(img), "--model", str(spot_model), "--overlay", str(bad))
    one_line_error(proc, "--overlay", str(bad))


def test_count_a_folder_says_it_is_a_folder(tmp_path, spot_model):
    one_line_error(run_cli("count", str(tmp_path), "--model", str(spot_model)), "is a folder")


def test_records_summary_unwritable_csv(tmp_path):
    proc = run_cli("records", "summary", str(tmp_path), "--csv", "/proc/all.csv")
    one_line_error(proc, "--csv /proc/all.csv")
    assert ".tmp" not in proc.stderr.decode()


def test_annotate_port_in_use(tmp_path):
    write_png(tmp_path / "f" / "images" / "a.png", squares_image([(24, 24)]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run_cli(
            "annotate", str(tmp_path / "f"), "--no-browser", "--port", str(port), timeout=30
        )
    one_line_error(proc, f"--port {port}", "in use")


def test_train_unwritable_out_refused_before_training(tmp_path):
    write_png(tmp_path / "f" / "images" / "a.png", squares_image([(24, 24)]))
    (tmp_path / "f" / "points.csv").write_text("image,x,y,label\na.png,24,24,egg\n")
    t0 = time.monotonic()
    proc = run_cli("train", str(tmp_path / "f"), "--out", "/proc/m.onnx", timeout=60)
    one_line_error(proc, "--out /proc/m.onnx", "not writable")
    assert time.monotonic() - t0 < 5  # torch is not even loaded


def test_train_without_points_csv_names_the_missing_file(tmp_path):
    write_png(tmp_path / "f" / "images" / "a.png", squares_image([(24, 24)]))
    proc = run_cli("train", str(tmp_path / "f"), "--out", str(tmp_path / "m.onnx"), timeout=120)
    one_line_error(proc, str(tmp_path / "f" / "points.csv"), "missing")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.skipif(config.DEFAULT_PATH.exists(), reason="this machine has a config file")
def test_config_check_without_a_file_says_defaults():
    proc = run_cli("config", "check")
    assert proc.returncode == 0
    assert proc.stdout.decode().strip() == (
        f"no config file at {config.DEFAULT_PATH}: built-in defaults"
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["count", "x.png", "--threads", "-3"], "--threads"),
        (["evaluate", "f", "--model", "m.onnx", "--radius", "-2"], "--radius"),
        (["evaluate", "f", "--model", "m.onnx", "--zooms", "1,,2"], "--zooms"),
        (["model", "list", "--store", "/nonexistent/store"], "no such model store"),
        (["model", "list", "--store", "/tmp/" + "a" * 5000], "not a usable path"),
        (["benchmark", "--repeats", "-1"], "--repeats"),
        (["benchmark", "--repeats", "0"], "--repeats"),
        (["benchmark", "--threads", "-2"], "--threads"),
        (["evaluate", "f", "--model", "m.onnx", "--zooms", "1\n\x1b[31m2"], "\\x1b[31m"),
        (["train", "f", "--out", "m.onnx", "--budget-gmac", "<b>" + "9" * 100_000], "<b>999"),
        (["model", "install", "m.onnx", "--store", "/tmp/" + "a" * 300], "not a usable path"),
    ],
)
def test_bad_values_are_one_line(args, needle):
    one_line_error(run_cli(*args), needle)


def test_a_huge_refused_value_is_not_echoed_whole():
    proc = run_cli("train", "f", "--out", "m.onnx", "--budget-gmac", "<b>" + "9" * 100_000)
    one_line_error(proc, "--budget-gmac")
    assert len(proc.stderr) < 500, len(proc.stderr)

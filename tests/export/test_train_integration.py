"""End to end: train on a shared folder for a short budget, then count images it never saw."""

import json

import numpy as np
import onnx
import pytest

from export.evaluate import _link_subset
from export.folder import read_folder
from export.onnx_macs import conv_macs
from tests.conftest import run_cli, shared_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mbm_model(tmp_path_factory):
    src = shared_folder("mbm")
    folder = read_folder(src)
    names = [s.name for s in folder.samples]
    tmp = tmp_path_factory.mktemp("mbm")
    _link_subset(folder, names[4:], tmp / "train")
    out = tmp / "mbm.onnx"
    # steps, not seconds, decide the result: a busy machine only takes longer
    proc = run_cli("train", str(tmp / "train"), "--out", str(out), "--steps", "600", timeout=1800)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return out, folder, names[:4], proc


def test_train_writes_int8_float_report_and_curve(mbm_model):
    out, _, _, proc = mbm_model
    assert out.exists() and out.with_name("mbm.float.onnx").exists()
    assert out.with_name("mbm.curve.png").stat().st_size > 1000
    rep = json.loads(out.with_name("mbm.report.json").read_text())
    assert rep["int8_vs_float"] <= 0.02
    text = proc.stdout.decode()
    assert "GMAC per 1280x960 frame" in text and "Pi 4 ~" in text and "Zero 2 W ~" in text
    # Cells 18 px across would be shown at 32 px; the Pi budget lowers the scale instead.
    assert conv_macs(out) <= 2.0e9 * 1.03 and conv_macs(out.with_name("mbm.float.onnx")) <= 2.06e9
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["scopecount.classes"]) == ["cell"]
    assert meta["scopecount.quantization"].startswith("int8")
    training = json.loads(meta["scopecount.training"])
    assert training["images"] == 25 and len(training["content_sha256"]) == 64
    assert 20.0 < training["object_px"] < 32.0
    assert training["steps"] == 600 and training["stopped_early"] is False
    assert (training["threads"], training["seed"]) == (1, 0)  # the defaults, recorded
    assert json.loads(meta["scopecount.metrics"])["learnt"] is True
    assert out.stat().st_size < out.with_name("mbm.float.onnx").stat().st_size / 2


def test_train_measures_the_model_own_zoom_range_on_held_back_images(mbm_model, tmp_path):
    out, _, _, proc = mbm_model
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    held = json.loads(meta["scopecount.training"])["zoom_range"]
    zoom = json.loads(meta["scopecount.zoom"])
    assert held["images"] == 6 and set(held["errors"]) >= {"0.7", "1", "1.4"}
    assert zoom["flag_lo"] == held["lo"] <= 1.0 <= zoom["flag_hi"] == held["hi"]
    assert f"zoom range: {held['lo']:.2f}x to {held['hi']:.2f}x" in proc.stdout.decode()
    store = tmp_path / "store"
    assert run_cli("model", "install", str(out), "--store", str(store)).returncode == 0
    listed = run_cli("model", "list", "--store", str(store)).stdout.decode()
    assert f"zoom {held['lo']:.2f}-{held['hi']:.2f}x (noisy)" in listed  # 6 held back: noisy


def test_counts_held_out_images_sensibly(mbm_model):
    out, folder, held, _ = mbm_model
    paths = [str(folder.root / "images" / n) for n in held]
    proc = run_cli("count", *paths, "--model", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    truth = {s.name: s.count() for s in folder.samples}
    rel = []
    for r in results:
        name = r["image"].rsplit("/", 1)[-1]
        n = r["counts"]["cell"]
        assert len(r["points"]) == n  # every counted object has its point
        rel.append(abs(n - truth[name]) / truth[name])
    assert np.mean(rel) < 0.2, rel


def test_evaluate_reports_metrics_and_plot(mbm_model, tmp_path):
    out, folder, held, _ = mbm_model
    _link_subset(folder, held, tmp_path / "held")
    plot = tmp_path / "scatter.png"
    proc = run_cli(
        "evaluate", str(tmp_path / "held"), "--model", str(out), "--json", "--plot", str(plot)
    )
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)
    assert m["images"] == 4 and m["mae"] < 30
    assert 0 < m["f1"] <= 1 and m["recall"] > 0.5
    assert plot.stat().st_size > 1000


def test_photographs_at_another_zoom_are_found_and_rescaled(tmp_path):
    src = shared_folder("mosquito-eggs")  # two of its six photographs were taken 1.45x closer
    out = tmp_path / "eggs.onnx"
    proc = run_cli("train", str(src), "--out", str(out), "--steps", "300")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    err = proc.stderr.decode()
    assert "2 image(s) taken at another zoom" in err and "DSC_2378_480p.jpg" in err
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    training = json.loads(meta["scopecount.training"])
    assert set(training["other_zoom"]) == {"DSC_2378_480p.jpg", "DSC_2380_480p.jpg"}
    main = float(meta["scopecount.object_size_px"])
    # The size is the main zoom's alone, not a blend pulled towards the closer photographs.
    assert all(v > 1.3 * main for v in training["other_zoom"].values())
    assert main < 5.3

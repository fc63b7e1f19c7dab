"""`scopecount evaluate`: figures that are undefined say so."""

import json
from pathlib import Path

from tests.conftest import run_cli, squares_image, write_png
from tests.support import onnx_fixtures
from tests.support.cli_checks import one_line_error


def folder_of(root: Path, centres: list, rows: str | None) -> Path:
    for name in ("a.png", "b.png"):
        write_png(root / "images" / name, squares_image(centres))
    if rows is not None:
        (root / "points.csv").write_text("image,x,y,label\n" + rows)
    return root


def evaluate(tmp_path: Path, folder: Path, *extra: str):
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model())
    return run_cli(
        "evaluate", str(folder), "--model", str(model), "--plot", str(tmp_path / "p.png"), *extra
    )


def test_no_predictions_has_no_precision(tmp_path):
    # black images: the model predicts nothing where two objects were annotated
    folder = folder_of(tmp_path / "f", [], "a.png,40,40,spot\nb.png,40,40,spot\n")
    proc = evaluate(tmp_path, folder, "--json")
    m = json.loads(proc.stdout)
    assert m["precision"] is None and m["recall"] == 0.0 and m["f1"] == 0.0
    text = evaluate(tmp_path, folder).stdout.decode()
    assert "precision n/a" in text and "precision 1.000" not in text


def test_all_empty_folder_has_no_nan(tmp_path):
    folder = folder_of(tmp_path / "f", [], "")
    proc = evaluate(tmp_path, folder)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert "nan" not in out.lower() and "mean relative error n/a" in out
    m = json.loads(evaluate(tmp_path, folder, "--json").stdout)  # strict JSON: no NaN
    assert m["mre"] is None


def test_missing_points_csv_is_bad_input(tmp_path):
    folder = folder_of(tmp_path / "f", [(40, 40)], None)
    proc = evaluate(tmp_path, folder)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "points.csv" in err and "missing" in err
    assert len(err.strip().splitlines()) == 1


def test_radius_default_is_what_the_help_says(tmp_path):
    help_text = " ".join(run_cli("evaluate", "--help").stdout.decode().split())
    assert "half the model's object size, at least 3 px" in help_text
    folder = folder_of(tmp_path / "f", [(40, 40)], "a.png,40,40,spot\nb.png,40,40,spot\n")
    m = json.loads(evaluate(tmp_path, folder, "--json").stdout)
    assert m["radius"] == 4.0  # the fixture model's objects are 8 px


def test_an_unwritable_plot_is_refused_before_evaluating(tmp_path, spot_model):
    write_png(tmp_path / "f" / "images" / "a.png", squares_image([(40, 40)]))
    (tmp_path / "f" / "points.csv").write_text("image,x,y,label\na.png,40,40,spot\n")
    one_line_error(
        run_cli(
            "evaluate", str(tmp_path / "f"), "--model", str(spot_model), "--plot", "/proc/x.png"
        ),
        "--plot",
    )


def test_the_plot_goes_beside_the_model_not_into_the_current_folder(tmp_path):
    folder = folder_of(tmp_path / "vials", [(40, 40)], "a.png,40,40,spot\nb.png,40,40,spot\n")
    (tmp_path / "models").mkdir()
    model = onnx_fixtures.write(tmp_path / "models" / "m.onnx", onnx_fixtures.bright_spot_model())
    shell = tmp_path / "shell"
    shell.mkdir()
    proc = run_cli("evaluate", str(folder), "--model", str(model), cwd=shell)
    assert proc.returncode == 0, proc.stderr.decode()
    plot = tmp_path / "models" / "m_on_vials_scatter.png"
    assert plot.stat().st_size > 1000
    assert f"plot: {plot}" in proc.stdout.decode()  # the full path, to open it
    assert list(shell.iterdir()) == []


def test_a_link_planted_at_the_plot_path_is_replaced_not_followed(tmp_path):
    folder = folder_of(tmp_path / "vials", [(40, 40)], "a.png,40,40,spot\nb.png,40,40,spot\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    model = onnx_fixtures.write(shared / "m.onnx", onnx_fixtures.bright_spot_model())
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (shared / "m_on_vials_scatter.png").symlink_to(victim)
    proc = run_cli("evaluate", str(folder), "--model", str(model), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert victim.read_text() == "mine"
    plot = shared / "m_on_vials_scatter.png"
    assert not plot.is_symlink() and plot.read_bytes()[:4] == b"\x89PNG"


def test_hostile_names_make_a_safe_plot_name_and_are_escaped_on_screen(tmp_path):
    odd = "vi\x1b]0;pwned\x07als\x1b[31m"
    folder = folder_of(tmp_path / odd, [(40, 40)], "a.png,40,40,spot\nb.png,40,40,spot\n")
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model())
    proc = run_cli("evaluate", str(folder), "--model", str(model), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
    (plot,) = tmp_path.glob("m_on_*_scatter.png")
    assert plot.name.isascii() and all(c.isalnum() or c in "._-" for c in plot.name)


def test_a_missing_model_is_named_as_the_model(tmp_path):
    folder = folder_of(tmp_path / "vials", [(40, 40)], "a.png,40,40,spot\nb.png,40,40,spot\n")
    proc = run_cli("evaluate", str(folder), "--model", str(tmp_path / "nope" / "m.onnx"))
    one_line_error(proc, "--model", "no such file")


def test_a_plot_name_too_long_is_one_line_of_bad_input(tmp_path):
    folder = folder_of(tmp_path / "vials", [(40, 40)], "a.png,40,40,spot\nb.png,40,40,spot\n")
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model())
    proc = run_cli("evaluate", str(folder), "--model", str(model), "--plot", "x" * 300 + ".png")
    one_line_error(proc, "--plot")

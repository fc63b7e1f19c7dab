import json
import tempfile

import pytest

from tests.conftest import run_cli, shared_folder

pytestmark = pytest.mark.slow


def test_learning_curve_on_a_shared_folder(tmp_path):
    folder = shared_folder("mosquito-eggs")
    plot = tmp_path / "lc.png"
    proc = run_cli(
        "evaluate",
        str(folder),
        "--learning-curve",
        "--steps",
        "150",
        "--json",
        "--plot",
        str(plot),
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    lines = proc.stdout.decode().splitlines()
    rows = json.loads(lines[-1])["learning_curve"]
    assert [r["train_images"] for r in rows] == [1, 2, 4, 5]
    assert all(r["test_images"] == 1 and r["mae"] >= 0 for r in rows)
    assert "training images: MAE" in lines[0]
    assert all(r["abs_err_min"] <= r["mae"] <= r["abs_err_max"] for r in rows)
    assert plot.stat().st_size > 1000
    err = proc.stderr.decode()
    assert "only 1 held out" in err  # 6 images: a one-image test set is said, not hidden
    log = [ln for ln in err.splitlines() if not ln.startswith("plot: ")]  # the user's --plot
    assert not [ln for ln in log if tempfile.gettempdir() in ln], err
    assert "mosquito-eggs[1 images]" in err


def test_plot_has_plain_numbers_and_spread():
    import matplotlib.pyplot as plt

    from export.plots import learning_curve_figure

    rows = [
        {"train_images": n, "mae": m, "abs_err_min": m / 2, "abs_err_max": m * 2}
        for n, m in ((1, 8.0), (2, 5.0), (4, 3.0), (5, 2.5))
    ]
    fig = learning_curve_figure(rows, "t")
    ax = fig.axes[0]
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "5"]
    assert ax.containers, "no error bars"
    plt.close(fig)


def test_relabel_hides_temp_paths():
    import io

    from export.evaluate import _Relabel

    out = io.StringIO()
    _Relabel(out, "/tmp/tmpab12", "eggs[2 images]").write(
        "/tmp/tmpab12/train2: 2 images, 40 objects; wrote /tmp/tmpab12/m2.onnx\n"
    )
    assert out.getvalue() == "eggs[2 images]: 2 images, 40 objects; wrote eggs[2 images]\n"


def test_zooms_are_refused_with_a_learning_curve_not_ignored(tmp_path):
    from tests.support.cli_checks import one_line_error
    from tests.support.folders import squares_folder

    folder = squares_folder(tmp_path / "f")
    r = run_cli("evaluate", str(folder), "--learning-curve", "--zooms", "0.7,1")
    one_line_error(r, "--zooms: for a model (--model), not --learning-curve")

import json

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
    assert plot.stat().st_size > 1000

"""The screen after a press with an areas model: the main class's share in large digits, a bar
per class, the history row, the class map over the preview."""

from __future__ import annotations

import asyncio

from textual.widgets import Digits, Label

from device.tui.app import BenchApp
from device.tui.result_view import bar
from tests.conftest import write_png
from tests.support import onnx_fixtures
from tests.support.benchfakes import make_rig
from tests.support.onnx_fixtures import colour_image
from tests.tui.test_tui import count, ready


def test_a_bar_is_the_share_in_block_characters():
    assert bar(0.0, 4) == "    "
    assert bar(1.0, 4) == "████"
    assert bar(0.5, 4) == "██  "
    assert bar(0.3125, 4) == "█▎  "  # a cell and a quarter


def test_an_areas_press_shows_shares_and_bars(tmp_path):
    shots = tmp_path / "shots"
    write_png(shots / "s0.png", colour_image((96, 128), red=(0, 0, 64, 48), green=(64, 48, 32, 48)))
    model = onnx_fixtures.write(tmp_path / "areas.onnx", onnx_fixtures.colour_areas_model())
    rig = make_rig(tmp_path, images=shots, model=model, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            table = await count(pilot, app, 1)
            big = float(str(app.query_one("#count-digits", Digits).value))
            assert abs(big - 25.0) < 1.5  # a quarter of the view, give or take the edges
            assert "red % of view" in str(app.query_one("#count-label", Label).render())
            lines = str(app.query_one("#count-text", Label).render()).splitlines()
            assert lines[0].startswith("red") and "█████" in lines[0] and f"{big:.1f}%" in lines[0]
            assert lines[1].startswith("green") and "1" in lines[1].split()[-1]
            row = table.get_row_at(0)
            assert f"red: {big:.1f}%" in row[2] and "green: 1" in row[2]
            await pilot.press("q")

    asyncio.run(go())
    rig.close()

"""The screen after a press with a landmarks model: centroid size in large digits, a line per
landmark with its position and confidence, the history row."""

from __future__ import annotations

import asyncio

from textual.widgets import Digits, Label

from device.tui.app import BenchApp
from tests.conftest import write_png
from tests.support import onnx_fixtures
from tests.support.benchfakes import make_rig
from tests.support.onnx_fixtures import landmark_image
from tests.tui.test_tui import count, ready


def test_a_landmarks_press_shows_centroid_size_and_each_landmark(tmp_path):
    shots = tmp_path / "shots"
    write_png(shots / "s0.png", landmark_image((96, 128), grey=110))
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    rig = make_rig(tmp_path, images=shots, model=model, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            table = await count(pilot, app, 1)
            big = float(str(app.query_one("#count-digits", Digits).value))
            assert 30 < big < 60  # the triangle of the three dots
            assert "centroid size px" in str(app.query_one("#count-label", Label).render())
            lines = str(app.query_one("#count-text", Label).render()).splitlines()
            assert len(lines) == 3 and "humeral" in lines[0] and "17.5" in lines[0]
            assert lines[2].split()[0] == "3" and "L5 tip" in lines[2]
            row = table.get_row_at(0)
            assert f"centroid size {big:.1f} px" in row[2] and "3/3 landmarks" in row[2]
            await pilot.press("q")

    asyncio.run(go())
    rig.close()

"""Pictures of the terminal UI at the Pi console's 80x24 and at 120x40 (pytest-textual-snapshot).

They test the layout and the text. The preview's pixels come from OpenCV (the overlay's
anti-aliased circles and text, the replayed frames), which moves colours by a step between
releases: here the preview shows a flat grey frame of the image's size, and
tests/tui/test_preview.py checks what the preview shows, with a tolerance.

Regenerate after a deliberate change with: pytest tests/tui/test_tui_snapshots.py --snapshot-update
(and look at the SVGs in tests/__snapshots__/ before committing them).
"""

import numpy as np
import pytest

from device.tui.app import BenchApp
from device.tui.preview import Preview
from tests.support.benchfakes import make_rig

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@pytest.fixture(autouse=True)
def flat_preview(monkeypatch):
    show = Preview.show

    def flat(self: Preview, rgb: np.ndarray) -> None:
        show(self, np.full_like(rgb, 96))

    monkeypatch.setattr(Preview, "show", flat)


@pytest.fixture
def app(tmp_path):
    rig = make_rig(tmp_path, start=False, fixed_time=True)
    yield BenchApp(rig.bench)
    rig.close()


@pytest.fixture
def app_no_stick(tmp_path):
    rig = make_rig(tmp_path, start=False, fixed_time=True, no_stick=True)
    yield BenchApp(rig.bench)
    rig.close()


async def _wait_ready(pilot):
    for _ in range(200):
        await pilot.pause(0.05)
        if "ready" in pilot.app.message:
            return


async def _count_once(pilot):
    await _wait_ready(pilot)
    await pilot.press("space")
    for _ in range(200):
        await pilot.pause(0.05)
        if pilot.app.message.startswith("recorded"):
            break
    await pilot.pause(0.2)


@SIZES
def test_ready_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=_wait_ready)


@SIZES
def test_after_one_count(snap_compare, app, size):
    # the replayed frames are dark: the result is shown flagged "underexposed"
    assert snap_compare(app, terminal_size=size, run_before=_count_once)


@SIZES
def test_no_stick(snap_compare, app_no_stick, size):
    assert snap_compare(app_no_stick, terminal_size=size, run_before=_count_once)


@SIZES
def test_sample_dialog(snap_compare, app, size):
    async def before(pilot):
        await _wait_ready(pilot)
        await pilot.press("s")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=before)

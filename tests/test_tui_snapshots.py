"""A few pictures of the terminal UI at a fixed size (pytest-textual-snapshot).

Regenerate after a deliberate change with: pytest tests/test_tui_snapshots.py --snapshot-update
"""

import pytest

from device.tui.app import BenchApp
from tests.benchfakes import make_rig

SIZE = (110, 34)


@pytest.fixture
def app(tmp_path):
    rig = make_rig(tmp_path, start=False, fixed_time=True)
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


def test_ready_screen(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=_wait_ready)


def test_after_one_count(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=_count_once)


def test_sample_dialog(snap_compare, app):
    async def before(pilot):
        await _wait_ready(pilot)
        await pilot.press("s")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)

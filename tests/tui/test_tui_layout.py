"""The terminal UI at 80x24 (the Pi's console) and 120x40: nothing cut, flagged results look
flagged, dialogs own the keyboard."""

import asyncio

import pytest
from textual.geometry import Region
from textual.widgets import DataTable, Digits, Input, Label

from device.tui.app import BenchApp
from tests.support.benchfakes import make_rig
from tests.tui.test_tui import count, ready, settle

SIZES = [(80, 24), (120, 40)]


def shown(widget) -> str:
    """The text a widget actually shows on screen (what is cut off is not in it)."""
    w, h = widget.size
    return "\n".join(s.text for s in widget.render_lines(Region(0, 0, w, h)))


@pytest.mark.parametrize("size", SIZES)
def test_nothing_is_cut(tmp_path, size):
    rig = make_rig(tmp_path, start=False, no_stick=True)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=size) as pilot:
            await ready(pilot, app)
            table = await count(pilot, app, 1)
            await pilot.pause(0.2)
            status = shown(app.query_one("#status", Label))
            assert "saving to SD card (0 waiting)" in status, status
            assert "camera replay vials/ (3 images)" in " ".join(status.split()), status
            rid = app.message.split()[1].rstrip(":")  # "recorded <id>: ..." has it whole
            assert len(rid) > 30  # bench name, install id, date, number
            # whole where there is room, else its date and number (the rest is on every row)
            assert (rid if size[0] >= 120 else rid[-15:]) in shown(table), shown(table)
            assert table.virtual_size.width <= table.size.width  # no horizontal scrollbar
            assert not table.scrollbars_enabled[1]
            flags = shown(app.query_one("#flags", Label))
            assert "too dark: check the LED ring" in " ".join(flags.split())

    asyncio.run(go())
    rig.close()


def test_long_quality_warnings_wrap_at_80_columns(tmp_path):
    from device.config import QualityCfg

    # every frame reads as empty and dark: two long warnings
    rig = make_rig(tmp_path, start=False, quality=QualityCfg(empty_std=200.0, qr=False))

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            await count(pilot, app, 1)
            await pilot.pause(0.2)
            flags = " ".join(shown(app.query_one("#flags", Label)).split())
            assert "nothing in the field: is a vial under the scope?" in flags
            assert "too dark: check the LED ring" in flags
            # a flagged result looks flagged: the digits change style, the label says so
            assert app.query_one("#count-digits", Digits).has_class("flagged")
            assert "FLAGGED: empty" in shown(app.query_one("#count-label", Label))

    asyncio.run(go())
    rig.close()


def test_unflagged_result_looks_normal(tmp_path):
    from device.config import QualityCfg
    from tests.support import onnx_fixtures

    taught = onnx_fixtures.write(tmp_path / "t.onnx", onnx_fixtures.taught_spot_model())
    rig = make_rig(
        tmp_path,
        start=False,
        quality=QualityCfg(empty_std=0.0, dark_max=1.0, focus_min=0.0, qr=False),
        model=taught,
    )

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            table = await count(pilot, app, 1)
            assert not app.query_one("#count-digits", Digits).has_class("flagged")
            assert str(table.get_row_at(0)[3]) == "ok"

    asyncio.run(go())
    rig.close()


def test_void_offers_the_sample_again_and_second_void_says_already(tmp_path):
    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            await count(pilot, app, 1)
            await pilot.press("v")
            await settle(pilot, app, lambda: "voided" in app.message, 3)
            assert "sample: sample-001" in shown(app.query_one("#sample", Label))
            await pilot.press("v")
            await settle(pilot, app, lambda: "already voided" in app.message, 3)
            assert "nothing to void yet" not in app.message

    asyncio.run(go())
    rig.close()


def test_sample_dialog_hint_and_keys(tmp_path):
    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            rig.bench.set_sample("vial-007")
            await pilot.pause(0.1)
            await pilot.press("s")
            await pilot.pause(0.2)
            hint = " ".join(shown(app.screen.query_one("#sample-hint", Label)).split())
            assert "now vial-007" in hint and "vial-008, vial-009" in hint
            keys = shown(app.screen.query_one("#sample-keys", Label))
            assert "Enter" in keys and "Escape" in keys
            await pilot.press("end", "space", "v", "q")  # typing, not counting/voiding/quitting
            await pilot.pause(0.3)
            assert app.screen.query_one(Input).value == "vial-007 vq"
            assert app.query_one("#history", DataTable).row_count == 0
            assert rig.records() == []
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert rig.bench.sample == "vial-007"

    asyncio.run(go())
    rig.close()


def test_space_does_not_count_under_the_model_dialog(tmp_path):
    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            await pilot.press("m")
            await pilot.pause(0.2)
            await pilot.press("space")
            await pilot.pause(0.5)
            assert rig.records() == []
            await pilot.press("escape")
            await count(pilot, app, 1)

    asyncio.run(go())
    rig.close()


def test_footer_and_palette_offer_the_bench_commands_only(tmp_path):
    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            m = [b for b in app.BINDINGS if b.key == "m"][0]
            assert m.description == "model"  # the dialog shows the one model in use
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert titles == ["Count", "Sample id", "Void last", "Model", "Quit"]

    asyncio.run(go())
    rig.close()


def test_keys_typed_at_once_after_s_edit_the_sample_id(tmp_path):
    """A burst (a quick hand, a barcode scanner, tmux send-keys s End BSpace Z) arrives before
    the dialog is on screen; every key must still edit the id."""
    import asyncio

    from textual import events
    from textual.widgets import Input

    from device.tui.app import BenchApp
    from tests.support.benchfakes import make_rig

    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.3)
            for key, char in (("s", "s"), ("end", None), ("backspace", None), ("Z", "Z")):
                app.post_message(events.Key(key, char))  # no wait between keys
            await pilot.pause(0.5)
            assert app.screen.query_one(Input).value == "sample-00Z"
            await pilot.press("enter")
            await pilot.pause(0.2)
            assert rig.bench.sample == "sample-00Z"

    asyncio.run(go())
    rig.close()

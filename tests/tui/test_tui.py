import asyncio

from textual.widgets import DataTable, Digits, Input, Label

from device.tui.app import BenchApp
from tests.support.benchfakes import make_rig


async def settle(pilot, app, predicate, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        await pilot.pause(0.05)
        if predicate():
            return
    raise AssertionError(f"UI did not reach the expected state; message: {app.message!r}")


def run(coro):
    return asyncio.run(coro)


async def ready(pilot, app):
    await settle(pilot, app, lambda: "ready" in app.message)


async def type_sample(pilot, app, text: str) -> None:
    """Open the sample dialog with `s`, clear its field, type `text` and press Enter."""
    await pilot.press("s")
    await pilot.pause()
    app.screen.query_one(Input).value = ""
    await pilot.press(*text, "enter")
    await pilot.pause()


async def count(pilot, app, rows: int) -> DataTable:
    """Press space and wait until the history shows `rows` records."""
    await pilot.press("space")
    table = app.query_one("#history", DataTable)
    await settle(pilot, app, lambda: table.row_count == rows)
    return table


def test_space_counts_and_shows_digits_history_and_status(tmp_path):
    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            assert app.focused is None or not isinstance(app.focused, Input)
            table = await count(pilot, app, 1)
            assert str(app.query_one("#count-digits", Digits).value) == "2"
            assert "egg: 2" in str(app.query_one("#count-text", Label).render())
            row = table.get_row_at(0)
            assert row[1] == "sample-001" and "egg: 2" in row[2]
            status = str(app.query_one("#status", Label).render())
            assert "local" in status and "model bright-spot" in status
            await count(pilot, app, 2)
            assert table.get_row_at(1)[1] == "sample-002"
            await pilot.press("q")
        return len(rig.records())

    assert run(go()) == 2
    rig.close()


def test_sample_edit_then_count(tmp_path):
    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            await type_sample(pilot, app, "vial-7")
            assert rig.bench.sample == "vial-7"
            table = await count(pilot, app, 1)
            assert table.get_row_at(0)[1] == "vial-7"
            assert "vial-8" in str(app.query_one("#sample", Label).render())

    run(go())
    assert rig.records()[0]["sample"] == "vial-7"
    rig.close()


def test_void_and_camera_error_in_plain_words(tmp_path):
    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            table = await count(pilot, app, 1)
            await pilot.press("v")
            await settle(pilot, app, lambda: "voided" in app.message, 3)
            assert table.get_row_at(0)[3] == "VOIDED"
            # The big digits no longer show the voided count as the result.
            assert app.query_one("#count-digits", Digits).value == "-"
            assert "VOIDED" in str(app.query_one("#count-label", Label).render())
            rig.camera.unplug()
            await pilot.press("space")
            await settle(pilot, app, lambda: app.message.startswith("ERROR"))
            assert "camera" in app.message and "Traceback" not in app.message
            rig.camera.plug()
            await count(pilot, app, 2)

    run(go())
    rig.close()

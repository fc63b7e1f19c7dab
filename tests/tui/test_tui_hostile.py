"""Hostile strings on the terminal: sample ids, QR labels, model names and error messages are
shown as text, never parsed as Textual markup, and a failing screen never stops the bench."""

import asyncio
from types import SimpleNamespace

import cv2
import numpy as np
from textual.widgets import DataTable, Label

from device.bench.events import BenchEvent, ModelChanged
from device.bench.loop import Bench
from device.config import QualityCfg
from device.measuring.counter import Counter
from device.tui.app import BenchApp
from tests.conftest import write_png
from tests.support import onnx_fixtures
from tests.support.benchfakes import Events, make_rig
from tests.tui.test_tui import count, ready, settle, type_sample

HOSTILE = "vial-12[bold]"


def run(coro):
    return asyncio.run(coro)


def shown(app, selector: str) -> str:
    return str(app.query_one(selector, Label).render())


class ChangingModel:
    """A model source (the store's protocol) that announces a model once, like a new install."""

    def __init__(self, counter, event: BenchEvent | None = None) -> None:
        self.counter = counter
        self.event = event

    def current(self):
        return self.counter

    def poll(self):
        ev, self.event = self.event, None
        return ev

    def failed(self, error):
        return None


class BrokenCounter:
    """A counter whose run fails with a message holding markup (the model's own name)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sha256 = "0" * 64
        self.info = SimpleNamespace(classes=["egg"])

    def measure(self, rgb: np.ndarray):
        raise RuntimeError(f"[bold]{self.name} broke[/]")


def rebench(rig, models) -> Bench:
    """The rig's parts with another model source."""
    bench = Bench(
        rig.camera,
        rig.light,
        models,
        rig.recorder,
        QualityCfg(empty_std=1.0, focus_min=0.0, qr=True),
        debounce_s=0.03,
        poll_s=0.05,
    )
    bench.subscribe(rig.events)
    return bench


def named_counter(tmp_path, name: str) -> Counter:
    meta = onnx_fixtures.metadata(["egg[b]"], **{"scopecount.name": name})
    data = onnx_fixtures.bright_spot_model(["egg[b]"], meta=meta)
    return Counter.from_file(onnx_fixtures.write(tmp_path / "hostile.onnx", data))


def test_typed_hostile_sample_is_shown_as_text_and_the_bench_goes_on(tmp_path):
    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            await type_sample(pilot, app, "vial[red]")
            assert rig.bench.sample == "vial[red]"
            assert "vial[red]" in shown(app, "#sample")
            rig.bench.set_sample(HOSTILE)
            await settle(pilot, app, lambda: HOSTILE in shown(app, "#sample"))
            table = await count(pilot, app, 1)
            assert str(table.get_row_at(0)[1]) == HOSTILE
            assert "vial-12[bold]-2" in shown(app, "#sample")
            # the next press is taken: the worker survived the first record
            await count(pilot, app, 2)
            assert str(table.get_row_at(1)[1]) == "vial-12[bold]-2"
            await pilot.press("q")

    run(go())
    assert [r["sample"] for r in rig.records()] == [HOSTILE, "vial-12[bold]-2"]
    rig.close()


def test_hostile_model_name_at_start_and_on_a_model_change(tmp_path):
    rig = make_rig(tmp_path, start=False)
    first = named_counter(tmp_path, "eggs-v2[bold]")
    change = ModelChanged(
        name="[bold]x", sha256="f" * 64, classes=["[/]"], message="now [bold]x[/]"
    )
    bench = rebench(rig, ChangingModel(first, change))

    async def go():
        app = BenchApp(bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, app, lambda: "now [bold]x[/]" in app.message)
            assert "model [bold]x" in shown(app, "#status")
            table = await count(pilot, app, 1)
            assert "egg[b]: 2" in str(table.get_row_at(0)[2])
            await pilot.press("m")
            await pilot.pause()
            assert "[bold]x" in str(app.screen.query_one("#models-text").render())
            await pilot.press("escape")
            await count(pilot, app, 2)
            await pilot.press("q")

    run(go())
    bench.stop()
    assert len(rig.records()) == 2
    rig.close()


def test_error_message_with_markup_is_shown_and_the_next_press_is_taken(tmp_path):
    rig = make_rig(tmp_path, start=False)
    good = named_counter(tmp_path, "eggs-v2[bold]")
    models = ChangingModel(BrokenCounter("eggs-v2[bold]"))
    bench = rebench(rig, models)

    async def go():
        app = BenchApp(bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            await pilot.press("space")
            await settle(pilot, app, lambda: app.message.startswith("ERROR"))
            assert "[bold]eggs-v2[bold] broke[/]" in shown(app, "#message")
            models.counter = good
            table = app.query_one("#history", DataTable)
            await pilot.press("space")
            await settle(pilot, app, lambda: table.row_count == 1)
            await pilot.press("q")

    run(go())
    bench.stop()
    assert len(rig.records()) == 1
    rig.close()


def test_worker_survives_a_subscriber_that_fails(tmp_path):
    rig = make_rig(tmp_path)

    def broken_screen(ev: BenchEvent) -> None:
        raise RuntimeError(f"cannot draw {ev.kind}")

    rig.bench.subscribe(broken_screen)
    rig.events.wait("ready")
    for n in (1, 2):
        assert rig.bench.press("keyboard")
        rig.events.wait("recorded", n)
    assert len(rig.records()) == 2
    assert isinstance(rig.events, Events)
    rig.close()


def test_hostile_qr_label_is_shown_as_text(tmp_path):
    label = "[bold]x[/]vial-12[bold]"
    kept = "[bold]x[_]vial-12[bold]"  # a path separator is cleaned out; the markup stays text
    enc = cv2.QRCodeEncoder.create()
    qr = cv2.resize(enc.encode(label), None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)
    img = np.full((480, 640, 3), 255, np.uint8)
    img[40 : 40 + qr.shape[0], 40 : 40 + qr.shape[1]] = qr[..., None]
    write_png(tmp_path / "qr" / "a.png", img)
    rig = make_rig(tmp_path, images=tmp_path / "qr", start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            table = await count(pilot, app, 1)
            assert table.get_row_at(0)[1] == kept
            assert kept in shown(app, "#sample")
            await count(pilot, app, 2)
            await pilot.press("q")

    run(go())
    assert [r["sample"] for r in rig.records()] == [kept, kept]
    rig.close()

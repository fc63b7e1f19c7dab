"""Build a bench from the real parts and the hardware-edge fakes (MockFactory pins, replay)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from device.bench.events import BenchEvent
from device.bench.loop import Bench
from device.bench.model_sources import FixedModel
from device.config import ButtonCfg, LightCfg, QualityCfg
from device.hardware.button import BenchButton
from device.hardware.camera import ReplayCamera
from device.hardware.light import PWMRing
from device.measuring.detector import open_detector_file
from device.records.recorder import Recorder
from tests.conftest import squares_image, write_png
from tests.support import onnx_fixtures


@dataclass
class Events:
    items: list[BenchEvent] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, ev: BenchEvent) -> None:
        with self.cond:
            self.items.append(ev)
            self.cond.notify_all()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.items]

    def of(self, kind: str) -> list[BenchEvent]:
        return [e for e in self.items if e.kind == kind]

    def wait(self, kind: str, n: int = 1, timeout: float = 10.0) -> list[BenchEvent]:
        end = time.monotonic() + timeout
        with self.cond:
            while len(self.of(kind)) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited for {n} {kind!r} events, got {self.kinds()}")
                self.cond.wait(left)
        return self.of(kind)


@dataclass
class Rig:
    bench: Bench
    camera: ReplayCamera
    light: PWMRing
    button: BenchButton
    factory: MockFactory
    recorder: Recorder
    events: Events
    storage: Path

    @property
    def button_pin(self):  # noqa: ANN201
        return self.factory.pin(self.button.button.pin.info.name)

    def click(self, hold_s: float = 0.0) -> None:
        pin = self.button_pin
        pin.drive_low()
        if hold_s:
            time.sleep(hold_s)
        pin.drive_high()

    def records(self) -> list[dict]:
        import json

        out = []
        for p in sorted((self.storage / "scopecount").glob("*/records.jsonl")):
            out += [json.loads(line) for line in p.read_text().splitlines()]
        return out

    def close(self) -> None:
        self.bench.stop()
        self.button.close()
        self.light.close()


def vial_folder(root: Path, n: int = 3) -> Path:
    for i in range(n):
        centres = [(24 + 40 * k, 40 + 20 * (k % 2)) for k in range(i + 2)]
        write_png(root / f"v{i}.png", squares_image(centres, shape=(128, 256)))
    return root


def make_rig(
    tmp: Path,
    delay_ms: int = 0,
    hold_s: float = 2.0,
    bounce_ms: int = 30,
    settle_ms: int = 0,
    quality: QualityCfg | None = None,
    images: Path | None = None,
    start: bool = True,
    fixed_time: bool = False,
    free_mb: list[int] | None = None,
    no_stick: bool = False,
    models: type[FixedModel] = FixedModel,
    model: Path | None = None,
) -> Rig:
    factory = MockFactory(pin_class=MockPWMPin)
    camera = ReplayCamera(images or vial_folder(tmp / "vials"), delay_ms)
    light = PWMRing(LightCfg(pin=18), factory)
    if model is None:
        model = onnx_fixtures.write(tmp / "spot.onnx", onnx_fixtures.bright_spot_model(["egg"]))
    storage = tmp / "stick"
    storage.mkdir()
    extra = {}
    if fixed_time:  # for pictures that must not change from run to run
        t = datetime(2026, 5, 4, 9, 30, 0, tzinfo=UTC)
        extra = {"clock": lambda: t, "free_space": lambda _p: 12_345 * 2**20, "bench_id": ""}
    if free_mb is not None:
        extra["free_space"] = lambda _p: free_mb[0] * 2**20  # a list: tests fill the stick
    if no_stick:  # a removable storage path with nothing mounted at it: records spool
        (tmp / "mountinfo").write_text("")
        extra["mountinfo_path"] = str(tmp / "mountinfo")
    recorder = Recorder(storage, tmp / "spool", "testbench", removable=no_stick, **extra)
    bench = Bench(
        camera,
        light,
        models(open_detector_file(model)),
        recorder,
        quality or QualityCfg(empty_std=1.0, focus_min=0.0, qr=True),
        settle_s=settle_ms / 1000,
        debounce_s=bounce_ms / 1000,
        poll_s=0.05,
    )
    events = Events()
    bench.subscribe(events)
    button = BenchButton(
        ButtonCfg(pin=17, bounce_ms=bounce_ms, hold_s=hold_s), bench.press, bench.hold, factory
    )
    if start:
        bench.start()
    return Rig(bench, camera, light, button, factory, recorder, events, storage)

"""The LED ring: a white ring on a MOSFET, dimmed by PWM through gpiozero.

It also shows the bench's state: dim when ready, full during capture, blinking on error.
(NeoPixel rings are not offered: no maintained library drives them on both the Pi 4 and the Pi 5
from an unprivileged service; hardware_docs/ says so.)
"""

from __future__ import annotations

from typing import Protocol

from gpiozero import PWMLED
from gpiozero.pins import Factory

from device.config import LightCfg


class Light(Protocol):
    def ready(self) -> None: ...
    def capture(self) -> None: ...
    def error(self) -> None: ...
    def off(self) -> None: ...
    def close(self) -> None: ...


class PWMRing:
    def __init__(self, cfg: LightCfg, pin_factory: Factory | None = None) -> None:
        self.cfg = cfg
        self.led = PWMLED(cfg.pin, frequency=cfg.frequency, pin_factory=pin_factory)

    @property
    def value(self) -> float:
        return float(self.led.value)

    def ready(self) -> None:
        self.led.value = self.cfg.ready

    def capture(self) -> None:
        self.led.value = self.cfg.capture

    def error(self) -> None:
        self.led.blink(on_time=0.25, off_time=0.25, background=True)

    def off(self) -> None:
        self.led.off()

    def close(self) -> None:
        self.led.close()


class NoLight:
    """For benches lit by the microscope's own lamp."""

    def ready(self) -> None: ...
    def capture(self) -> None: ...
    def error(self) -> None: ...
    def off(self) -> None: ...
    def close(self) -> None: ...


def open_light(cfg: LightCfg, pin_factory: Factory | None = None) -> Light:
    return NoLight() if cfg.kind == "none" else PWMRing(cfg, pin_factory)

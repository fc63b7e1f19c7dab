"""The push button through gpiozero: a press counts, a long hold voids the last record.

A press is acted on when the button is released (a hold must record nothing new), unless it
was held: then the hold acts instead. gpiozero filters contact bounce with bounce_time on real
pins; its mock pins ignore it, so the bench also refuses presses that come too fast.
"""

from __future__ import annotations

from collections.abc import Callable

from gpiozero import Button, PinFixedPull
from gpiozero.pins import Factory

from device.config import ButtonCfg
from device.core.errors import BadInput


class BenchButton:
    def __init__(
        self,
        cfg: ButtonCfg,
        on_press: Callable[[str], object],
        on_hold: Callable[[], object],
        pin_factory: Factory | None = None,
    ) -> None:
        try:
            self.button = Button(
                cfg.pin,
                pull_up=cfg.pull_up,
                bounce_time=cfg.bounce_ms / 1000 or None,
                hold_time=cfg.hold_s,
                pin_factory=pin_factory,
            )
        except PinFixedPull:  # GPIO2/3 on a Pi's header: I2C pull-ups soldered on the board
            raise BadInput(
                f"[button] pull_up = false: pin {cfg.pin} has a fixed pull-up on this board; "
                "wire the button to GND with pull_up = true, or use another pin"
            ) from None
        self._held = False
        self._on_press = on_press
        self._on_hold = on_hold
        self.button.when_pressed = self._pressed
        self.button.when_held = self._hold
        self.button.when_released = self._released

    def _pressed(self) -> None:
        self._held = False

    def _hold(self) -> None:
        self._held = True
        self._on_hold()

    def _released(self) -> None:
        if not self._held:
            self._on_press("button")
        self._held = False

    def close(self) -> None:
        self.button.close()

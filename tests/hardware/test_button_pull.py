"""The button's polarity: `pull_up = false` reads a button that drives its pin high.

That is how QEMU's power key drives PL061 line 3 (high for 100 ms), which `make pi-test`
presses; a Compute Module 3+ has no pull-up on GPIO3, a Pi 4B has one soldered on.
"""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory

from device.config import ButtonCfg
from device.core.errors import BadInput
from device.hardware.button import BenchButton


def _button(factory: MockFactory, pull_up: bool) -> tuple[BenchButton, list[str], list[str]]:
    presses: list[str] = []
    holds: list[str] = []
    cfg = ButtonCfg(pin=3, bounce_ms=0, hold_s=0.5, pull_up=pull_up)
    button = BenchButton(cfg, presses.append, lambda: holds.append("hold"), factory)
    return button, presses, holds


def test_pull_down_button_idles_low_and_a_100_ms_high_pulse_is_one_press_not_a_hold() -> None:
    button, presses, holds = _button(MockFactory(revision="a02100"), pull_up=False)  # CM3+
    pin = button.button.pin
    try:
        time.sleep(0.7)  # at rest (low) longer than hold_s: neither a press nor a hold
        assert (presses, holds) == ([], [])
        for n in (1, 2):
            pin.drive_high()
            time.sleep(0.1)
            pin.drive_low()
            time.sleep(0.7)
            assert (presses, holds) == (["button"] * n, [])
    finally:
        button.close()


def test_pull_up_button_counts_a_low_pulse_and_ignores_its_rest_level() -> None:
    button, presses, holds = _button(MockFactory(revision="c03111"), pull_up=True)  # 4B
    pin = button.button.pin
    try:
        time.sleep(0.7)
        pin.drive_low()
        time.sleep(0.1)
        pin.drive_high()
        time.sleep(0.2)
        assert (presses, holds) == (["button"], [])
    finally:
        button.close()


def test_pull_down_on_a_pin_with_a_soldered_pull_up_is_a_one_line_error() -> None:
    with pytest.raises(BadInput, match=r"pull_up = false: pin 3 has a fixed pull-up"):
        _button(MockFactory(revision="c03111"), pull_up=False)  # 4B: GPIO3 has I2C pull-up

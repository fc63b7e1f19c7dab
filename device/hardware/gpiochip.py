"""Which /dev/gpiochip carries the 40-pin header, found by what the chip is (its label).

The number moves: a Pi 5's RP1 was gpiochip4 until kernel 6.6.45, then gpiochip0 (Pi OS keeps a
gpiochip4 link for old code), and later kernels number the chips differently again (gpiozero
#1166). gpiozero 2.0 picks gpiochip4 on a Pi 5 whenever that name exists, which is the wrong
chip on some kernels. The label says what a chip is on every kernel.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device.core.errors import BadInput

# The header's controller on each board, in order of preference. The PL061 is the emulated Pi's
# (qemu -M virt), where make pi-test drives the bench.
HEADER_LABELS = (
    ("pinctrl-rp1", "Raspberry Pi 5 (RP1)"),
    ("pinctrl-bcm2712", "Raspberry Pi 5 (BCM2712)"),
    ("pinctrl-bcm2711", "Raspberry Pi 4 / 400 / CM4"),
    ("pinctrl-bcm2835", "Raspberry Pi 3 / Zero 2 W / earlier"),
    (".pl061", "PL061 (emulated Pi)"),
)
# struct gpiochip_info { char name[32]; char label[32]; __u32 lines; } (linux/gpio.h)
_INFO = struct.Struct("32s32sI")
GPIO_GET_CHIPINFO_IOCTL = (2 << 30) | (_INFO.size << 16) | (0xB4 << 8) | 0x01
CHIP_NAME = re.compile(r"gpiochip(\d{1,3})")


@dataclass(frozen=True)
class GpioChip:
    number: int  # N of /dev/gpiochipN (the lowest name when links point at one chip)
    label: str  # what the driver calls it: pinctrl-rp1, pinctrl-bcm2711, 9030000.pl061
    lines: int
    names: tuple[str, ...] = ()  # every /dev name that reaches it (gpiochip0, gpiochip4 link)

    def describe(self) -> str:
        also = [n for n in self.names if n != f"gpiochip{self.number}"]
        link = f" (also {', '.join(also)})" if also else ""
        return f"gpiochip{self.number} [{self.label}] {self.lines} lines{link}"


def chip_info(path: Path) -> tuple[str, int]:
    """(label, lines) of one gpiochip character device, from the kernel (GPIO_GET_CHIPINFO)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        raw = fcntl.ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, bytes(_INFO.size))
    finally:
        os.close(fd)
    _name, label, lines = _INFO.unpack(raw)
    return label.split(b"\0", 1)[0].decode("ascii", "replace"), int(lines)


def read_chips(
    dev: Path = Path("/dev"), info: Callable[[Path], tuple[str, int]] = chip_info
) -> list[GpioChip]:
    """Every gpiochip under dev, once each: names that link to one device are one chip."""
    by_target: dict[str, list[int]] = {}
    for p in dev.glob("gpiochip*"):
        m = CHIP_NAME.fullmatch(p.name)
        if m is None:
            continue
        try:
            target = str(p.resolve(strict=True))
        except OSError:
            continue  # a dangling link
        by_target.setdefault(target, []).append(int(m.group(1)))
    chips = []
    for target, numbers in by_target.items():
        numbers.sort()
        try:
            label, lines = info(Path(target))
        except OSError:
            continue  # not ours to open (permissions): doctor says so through the factory
        chips.append(GpioChip(numbers[0], label, lines, tuple(f"gpiochip{n}" for n in numbers)))
    return sorted(chips, key=lambda c: c.number)


def _is(label: str, needle: str) -> bool:
    return label.endswith(needle) if needle.startswith(".") else label == needle


def board_of(chip: GpioChip) -> str | None:
    return next((board for needle, board in HEADER_LABELS if _is(chip.label, needle)), None)


def choose_chip(chips: list[GpioChip], want: str = "auto", where: str = "[gpio] chip") -> GpioChip:
    """The chip to drive. `want`: auto (the header's controller, by label), a number, a
    /dev/gpiochipN path, or a label. A refusal names what was found."""
    found = "; ".join(c.describe() for c in chips) or "no /dev/gpiochip* at all"
    want = want.strip()
    if want == "auto":
        for needle, _board in HEADER_LABELS:
            for c in chips:
                if _is(c.label, needle):
                    return c
        raise BadInput(
            f"{where} = auto: no Raspberry Pi GPIO controller found ({found}); "
            "name the chip, e.g. [gpio] chip = 0 or a label"
        )
    m = re.fullmatch(r"(?:/dev/)?(?:gpiochip)?(\d{1,3})", want)
    for c in chips:
        if m is not None and f"gpiochip{int(m.group(1))}" in c.names:
            return c
        if m is None and c.label == want:
            return c
    raise BadInput(f"{where} = {want!r}: no such gpiochip ({found})")

"""A plain progress bar on stderr for long work (training, evaluating many images)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from device.core.text import printable


def time_left(elapsed_s: float, frac: float) -> float | None:
    """Seconds still to go at the pace so far; None until there is a pace to go by."""
    if frac < 0.02 or elapsed_s < 1.0:
        return None
    return max(0.0, elapsed_s * (1.0 - frac) / frac)


def fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.monotonic()
        self._last = -1.0
        self._tty = self.stream.isatty()

    def update(self, frac: float, text: str = "") -> None:
        now = time.monotonic()
        # Without a terminal (CI logs, pipes) one line every 10 s is enough.
        if not self._tty and now - self._last < 10 and frac < 1:
            return
        self._last = now
        frac = min(max(frac, 0.0), 1.0)
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self.start
        left = time_left(elapsed, frac) if frac < 1 else None
        eta = f", ~{fmt_seconds(left)} left" if left is not None else ""
        # the text may name a file: shown escaped, as every name from a folder is
        line = f"{self.label} [{bar}] {frac * 100:5.1f}% {fmt_seconds(elapsed)}{eta} "
        line += printable(text)
        end = "\r" if self._tty else "\n"
        self.stream.write(line[:120].ljust(120 if self._tty else 0) + end)
        self.stream.flush()

    def done(self, text: str = "") -> None:
        self._last = -1e9
        self.update(1.0, text)
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()

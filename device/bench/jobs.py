"""What the bench's worker thread is asked to do, one job at a time from its queue: presses
and holds arrive on any thread (the button, a signal, a key); only the worker touches the
camera and the stick."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capture:
    source: str  # button, signal, key, test: kept in the record


@dataclass(frozen=True)
class VoidLast:
    pass


@dataclass(frozen=True)
class Stop:
    pass


Job = Capture | VoidLast | Stop

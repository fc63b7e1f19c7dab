"""Where the bench's model comes from: a file given on the command line (fixed), or the store's
active model (watched: device/bench/watched_model.py)."""

from __future__ import annotations

from typing import Protocol

from device.bench.events import ModelChanged
from device.measuring.counter import Counter


class ModelSource(Protocol):
    def current(self) -> Counter: ...
    def poll(self) -> ModelChanged | None: ...
    def failed(self, error: Exception) -> ModelChanged | None: ...


class FixedModel:
    """A model given on the command line: never watched, never swapped."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def current(self) -> Counter:
        return self.counter

    def poll(self) -> ModelChanged | None:
        return None

    def failed(self, error: Exception) -> ModelChanged | None:
        return None

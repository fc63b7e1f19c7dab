"""Where the bench's model comes from: a file given on the command line (fixed), or the store's
active model (watched: device/bench/watched_model.py)."""

from __future__ import annotations

from typing import Protocol

from device.bench.events import ModelChanged
from device.measuring.detector import Detector


class ModelSource(Protocol):
    def current(self) -> Detector: ...
    def poll(self) -> ModelChanged | None: ...
    def failed(self, error: Exception) -> ModelChanged | None: ...


class FixedModel:
    """A model given on the command line: never watched, never swapped."""

    def __init__(self, counter: Detector) -> None:
        self.counter = counter

    def current(self) -> Detector:
        return self.counter

    def poll(self) -> ModelChanged | None:
        return None

    def failed(self, error: Exception) -> ModelChanged | None:
        return None

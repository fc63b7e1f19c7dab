"""The store's active model for a running bench: hot swap within a poll, rollback on failure.

Loads onnxruntime (through the detectors) and the bench's events: `model install` never
imports this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from device.bench.events import ModelChanged
from device.core.errors import BadInput, ModelError
from device.measuring.detector import Detector, open_detector_file
from device.models.store_lock import StoreBusy

if TYPE_CHECKING:
    from device.models.store import ModelStore


class WatchedModel:
    """The store's active model for a running bench: hot swap within a poll, rollback on failure."""

    def __init__(self, store: ModelStore, threads: int = 0, trusted: list | None = None) -> None:
        self.store = store
        self.trusted = trusted  # a signed-only store rolls back to signed models only
        self.threads = threads
        self.sha = store.active_sha()
        path = store.active_path()
        if path is None:
            raise BadInput(f"{store.root}: no active model")
        self.counter = open_detector_file(path, threads)

    def current(self) -> Detector:
        return self.counter

    def poll(self) -> ModelChanged | None:
        try:
            sha = self.store.active_sha()
        except BadInput:
            return None
        if not sha or sha == self.sha:
            return None
        old = self.counter
        try:
            new = open_detector_file(self.store.path_of(sha), self.threads)
        except (ModelError, OSError) as e:
            return self._roll_back(f"new model {sha[:12]} does not load ({e})", old)
        self.counter, self.sha = new, sha
        return ModelChanged(
            name=new.name,
            sha256=sha,
            classes=new.info.classes,
            previous=old.name,
            message=f"new model active: {new.name} (was {old.name})",
        )

    def failed(self, error: Exception) -> ModelChanged | None:
        return self._roll_back(
            f"model {self.counter.name} failed while counting ({error})", self.counter
        )

    def _roll_back(self, why: str, keep: Detector) -> ModelChanged:
        outcome = "rolled back to"
        try:
            back = self.store.rollback(self.trusted)
            self.counter = open_detector_file(self.store.path_of(back.sha256), self.threads)
            self.sha = back.sha256
        except (BadInput, ModelError, OSError, StoreBusy) as e:
            self.counter = keep
            self.sha = self.store.active_sha()
            outcome = f"no rollback ({str(e)[:120]}); kept"
        return ModelChanged(
            name=self.counter.name,
            sha256=self.counter.sha256,
            classes=self.counter.info.classes,
            error=why,
            message=f"{why}; {outcome} {self.counter.name}",
        )

"""What the bench says, one frozen dataclass per kind of event.

Consumers (the TUI, the headless runner, the journal, tests) get typed fields; the headless
bench prints `as_json()`: the kind under "event", then the fields, in the order declared here.
Optional fields marked OMIT are left out while empty (the demo model's `warning`), as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

OMIT = {"omit_empty": True}
OMIT_NONE = {"omit_none": True}  # left out only while None (False and 0 are values)
LOCAL = {"local": True}  # for consumers in this process (the TUI's preview); never serialised


@dataclass(frozen=True, kw_only=True)
class BenchEvent:
    kind: ClassVar[str] = "event"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("local") or (f.metadata.get("omit_empty") and not value):
                continue
            if f.metadata.get("omit_none") and value is None:
                continue
            out[f.name] = value
        return out

    @property
    def data(self) -> dict[str, Any]:
        """The fields as the headless JSON has them (without "event")."""
        out = self.as_json()
        del out["event"]
        return out


@dataclass(frozen=True, kw_only=True)
class Ready(BenchEvent):
    kind: ClassVar[str] = "ready"
    model: str
    model_sha256: str
    classes: list[str]
    warning: str = field(default="", metadata=OMIT)
    camera: str
    storage: dict[str, Any]
    sample: str


@dataclass(frozen=True, kw_only=True)
class Recorded(BenchEvent):
    kind: ClassVar[str] = "recorded"
    id: str
    time: str
    counts: dict[str, int]
    sample: str
    flags: list[str]
    why: list[str]
    zoom: float | None
    stored: str
    image: str
    model: str
    warning: str = field(default="", metadata=OMIT)
    next_sample: str
    ms: dict[str, float]
    task: str = "count"
    areas: dict[str, float] = field(default_factory=dict, metadata=OMIT)
    pixels: dict[str, int] = field(default_factory=dict, metadata=OMIT)
    # where the bench is calibrated (scopecount calibrate): as the record has them
    objective: str = field(default="", metadata=OMIT)
    um_per_px: float = field(default=0.0, metadata=OMIT)
    mm2: dict[str, float] = field(default_factory=dict, metadata=OMIT)
    per_mm2: dict[str, float] = field(default_factory=dict, metadata=OMIT)
    # landmarks records (DESIGN.md, contracts): as the record has them
    landmarks: list[list[float] | None] = field(default_factory=list, metadata=OMIT)
    landmark_names: list[str] = field(default_factory=list, metadata=OMIT)
    landmark_confidence: list[float] = field(default_factory=list, metadata=OMIT)
    centroid_size: float | None = field(default=None, metadata=OMIT_NONE)
    centroid_size_um: float | None = field(default=None, metadata=OMIT_NONE)
    mirrored: bool | None = field(default=None, metadata=OMIT_NONE)
    procrustes_distance: float | None = field(default=None, metadata=OMIT_NONE)
    frame: np.ndarray | None = field(default=None, metadata=LOCAL, compare=False, repr=False)
    class_map: np.ndarray | None = field(default=None, metadata=LOCAL, compare=False, repr=False)
    points: list[tuple[float, float, str]] | None = field(
        default=None, metadata=LOCAL, compare=False, repr=False
    )


@dataclass(frozen=True, kw_only=True)
class Error(BenchEvent):
    kind: ClassVar[str] = "error"
    message: str


@dataclass(frozen=True, kw_only=True)
class Refused(BenchEvent):
    """A press while counting (reason busy), or a second void of the same record."""

    kind: ClassVar[str] = "refused"
    reason: str
    source: str = field(default="", metadata=OMIT)
    id: str = field(default="", metadata=OMIT)
    message: str = field(default="", metadata=OMIT)


@dataclass(frozen=True, kw_only=True)
class SampleChanged(BenchEvent):
    kind: ClassVar[str] = "sample"
    sample: str


@dataclass(frozen=True, kw_only=True)
class Voided(BenchEvent):
    kind: ClassVar[str] = "voided"
    id: str
    sample: str


@dataclass(frozen=True, kw_only=True)
class StorageChanged(BenchEvent):
    """Where records go now (stick, spool, local), and why; the fields of StorageState."""

    kind: ClassVar[str] = "storage"
    where: str
    reason: str
    free_mb: float
    waiting: int
    warning: str


@dataclass(frozen=True, kw_only=True)
class Flushed(BenchEvent):
    kind: ClassVar[str] = "flushed"
    records: int
    renamed: list[dict[str, str]]
    quarantined: int


@dataclass(frozen=True, kw_only=True)
class ModelChanged(BenchEvent):
    """A new active model from the store, or a rollback (then `error` says why)."""

    kind: ClassVar[str] = "model"
    name: str
    sha256: str
    classes: list[str]
    previous: str = field(default="", metadata=OMIT)
    error: str = field(default="", metadata=OMIT)
    message: str
    warning: str = field(default="", metadata=OMIT)

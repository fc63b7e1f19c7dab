"""What the model store's changes and its listing return, as frozen values.

What the store itself decides (a sha256, active or not, a role, what was pruned) is typed. An
install record read back from the store is a file a person may have edited: a listing keeps it
as read (`record`), so that `model list --json` prints it unchanged, and whoever shows a value
of it checks that value first. `as_dict()` gives the JSON objects these results always were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from device.measuring.meta_values import plain_number
from device.models.store_records import MAX_FIGURE


@dataclass(frozen=True)
class InstallRecord:
    """models/<sha256>.json as install writes it (the field order is the file's key order)."""

    sha256: str
    name: str
    classes: tuple[str, ...]
    size: int
    installed: str  # ISO time to the microsecond: `activate NAME` takes the newest of a name
    signed: bool  # installed into a store that takes signed models only
    # What `train` measured and what a 1280x960 frame costs (store_records.FIGURE_KEYS)
    train_mae: float | None
    learnt: bool | None
    gmac: float | None
    pi4_s: float | None
    zoom_range: list[float] | None = None  # [lo, hi]: frames outside are flagged zoom
    task: str = "count"  # what the model measures (count, areas)
    train_share_pp: float | None = None  # areas: the largest class share error on its images
    train_error_px: float | None = None  # landmarks: the mean landmark error on its images
    zoom_images: int | None = None  # held-back images the zoom range rests on; None: the rule

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "classes": list(self.classes)}


@dataclass(frozen=True)
class Pruned:
    """A file install removed: a model the store no longer keeps, or a killed writer's
    temporary file (sha256 "", name "(unfinished write)")."""

    sha256: str
    name: str
    path: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class InstallResult:
    record: InstallRecord  # what was written beside the model
    again: bool  # the store held this model before (it was replaced, or rolled back from)
    already_active: bool  # nothing changed
    pruned: tuple[Pruned, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            **self.record.as_dict(),
            "again": self.again,
            "already_active": self.already_active,
            "pruned": [p.as_dict() for p in self.pruned],
        }


@dataclass(frozen=True)
class ActiveModel:
    """The model `activate` or `rollback` made active, as its install record and its file
    say (figures the file carries win over the record's)."""

    sha256: str
    name: str  # "?" where the record is missing or names nothing
    learnt: bool | None  # False: `train` marked it as not having learnt to count
    train_mae: float | None
    left: str | None = None  # rollback: the model it went back from (it stays in the store)

    @classmethod
    def of(cls, sha: str, info: Mapping[str, object], left: str | None = None) -> ActiveModel:
        """From an install record merged with the file's figures; the values a hand-edited
        record may spoil are kept only when they are of their type."""
        learnt = info.get("learnt")
        return cls(
            sha256=sha,
            name=str(info.get("name", "?")),
            learnt=learnt if isinstance(learnt, bool) else None,
            train_mae=plain_number(info.get("train_mae"), MAX_FIGURE),
            left=left,
        )


@dataclass(frozen=True)
class ListedModel:
    """One model of `model list`: its install record as read (training figures filled in from
    the model file for records older than them) and what the store's state makes of it."""

    sha256: str
    record: Mapping[str, object]
    active: bool
    role: str  # active, previous, older, rolled back from, or "" (kept, on no path)

    def as_dict(self) -> dict[str, object]:
        # A record that carries "active" or "role" itself keeps the key where it was, with the
        # store's value: what `model list --json` has always printed.
        return {**self.record, "active": self.active, "role": self.role}


@dataclass(frozen=True)
class StoreListing:
    store: str
    active_sha256: str | None
    previous_sha256: str | None  # where `rollback` goes
    models: tuple[ListedModel, ...]  # newest installed first

    def as_dict(self) -> dict[str, object]:
        return {
            "store": self.store,
            "active_sha256": self.active_sha256,
            "previous_sha256": self.previous_sha256,
            "models": [m.as_dict() for m in self.models],
        }

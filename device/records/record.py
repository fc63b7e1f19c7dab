"""The typed record of one press, as records.jsonl holds it (one JSON object per line)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

_REQUIRED = ("id", "time", "sample", "counts", "model", "model_sha256", "image", "flags")
# Fields that say where a copy of a record lives, not what was recorded.
_PLACE_FIELDS = ("id", "image", "mask", "stored", "flushed_from_spool", "renamed_from")


@dataclass(frozen=True)
class Detection:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Void:
    id: str
    time: str


@dataclass
class Record:
    id: str
    time: str
    sample: str
    counts: dict[str, int]
    model: str
    model_sha256: str
    image: str  # relative to the day folder: images/<id>.<ext>
    flags: list[str]
    seq: int = 0
    bench_id: str = ""
    clock_synced: bool = False
    stored: str = ""  # stick | local | spool
    extra: dict[str, Any] = field(default_factory=dict)  # quality figures, source, ...

    def to_json(self) -> str:
        d: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "bench_id": self.bench_id,
            "time": self.time,
            "clock_synced": self.clock_synced,
            "sample": self.sample,
            "counts": self.counts,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "image": self.image,
            "flags": self.flags,
            "stored": self.stored,
        }
        return json.dumps(
            d | {k: v for k, v in self.extra.items() if k not in d}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, line: str) -> Record:
        """A record line; ValueError naming what is wrong."""
        d = json.loads(line)
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise ValueError(f"no {missing[0]!r}")
        counts = d["counts"]
        if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
            raise ValueError("'counts' is not a mapping of class to integer")
        if not isinstance(d["flags"], list) or not isinstance(d["id"], str) or not d["id"]:
            raise ValueError("bad 'id' or 'flags'")
        known = set(_REQUIRED) | {"seq", "bench_id", "clock_synced", "stored"}
        return cls(
            id=d["id"],
            time=str(d["time"]),
            sample=str(d["sample"]),
            counts={str(k): int(v) for k, v in counts.items()},
            model=str(d["model"]),
            model_sha256=str(d["model_sha256"]),
            image=str(d["image"]),
            flags=[str(f) for f in d["flags"]],
            seq=int(d.get("seq") or 0),
            bench_id=str(d.get("bench_id") or ""),
            clock_synced=bool(d.get("clock_synced")),
            stored=str(d.get("stored") or ""),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def content_key(self) -> str:
        """What was recorded, whatever copy this is: two records with the same key are one."""
        d = json.loads(self.to_json())
        for k in _PLACE_FIELDS:
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    @property
    def image_name(self) -> str:
        return Path(self.image).name

    def moved(self, new_id: str, stored: str) -> Record:
        """This record under another id (its image renamed with it) and place."""
        suffix = Path(self.image).suffix
        extra = dict(self.extra)
        if new_id != self.id:
            extra["renamed_from"] = self.id
        if "mask" in extra:  # device/records/areas_files.py: the mask follows the image's name
            extra["mask"] = f"masks/{new_id}.png"
        return replace(
            self, id=new_id, image=f"images/{new_id}{suffix}", stored=stored, extra=extra
        )


def unique_id(wanted: str, taken: Callable[[str], bool]) -> str:
    """wanted, or wanted-2, wanted-3, ... : the first that is not taken."""
    if not taken(wanted):
        return wanted
    n = 2
    while taken(f"{wanted}-{n}"):
        n += 1
    return f"{wanted}-{n}"

"""What this bench recorded before, read back from day folders: its last sample id and its
last sequence number (so that ids and sample ids go on after a restart)."""

from __future__ import annotations

from collections.abc import Iterable

from device.records.dayfolder import DayFolder


def last_sample(folders: Iterable[DayFolder], bench_id: str) -> str | None:
    """The sample id this bench gave its latest record (QR labels aside), or None."""
    best: tuple[str, str] | None = None
    for day in folders:
        for r in day.records(on_bad=lambda n, why: None):
            if r.bench_id != bench_id or r.extra.get("sample_source") == "qr":
                continue
            if best is None or r.time >= best[0]:
                best = (r.time, r.sample)
    return best[1] if best else None


def max_seq(folders: Iterable[DayFolder], bench_id: str) -> int:
    return max(
        (
            r.seq
            for d in folders
            for r in d.records(on_bad=lambda n, why: None)
            if r.bench_id == bench_id
        ),
        default=0,
    )

"""`scopecount records summary DIR`: totals per day and sample across a stick, one merged CSV.

Reads day folders through device/records/dayfolder.py. Voided records and records whose count
means nothing (flagged empty, under- or overexposed, or counted by the demo model or a model that
never learnt) are listed but kept out of the totals, and the summary says how many and why.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from device.core.csvsafe import fixed, neutralise
from device.core.errors import BadInput
from device.core.text import printable
from device.core.writable import writable_file
from device.records.areas_files import record_areas
from device.records.dayfolder import SUBDIR, UNCOUNTABLE, DayFolder, Record


@dataclass
class Row:
    day: str
    record: Record
    voided: bool

    @property
    def left_out(self) -> str:
        """Why this record is not in the totals ('' if it is)."""
        if self.voided:
            return "voided"
        bad = [f for f in self.record.flags if f in UNCOUNTABLE]
        return bad[0] if bad else ""


@dataclass
class Total:
    day: str
    sample: str
    records: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    shares: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sizes: list[float] = field(default_factory=list)  # landmarks: centroid sizes, pixels

    def mean_share(self, c: str) -> str:
        """An areas class's mean share of the view over the sample's records, as text."""
        v = self.shares.get(c)
        return f"{100 * sum(v) / len(v):.1f}%" if v else ""

    def mean_size(self) -> str:
        return f"{sum(self.sizes) / len(self.sizes):.1f}" if self.sizes else ""


def centroid_size(rec: Record) -> float | None:
    text = fixed(rec.extra.get("centroid_size"), 2)  # '' for what is not a finite number
    return float(text) if text else None


def day_folders(root: Path) -> list[DayFolder]:
    if not root.is_dir():
        raise BadInput(f"{root}: not a folder")
    days = DayFolder.all_in(root)
    if not days:
        raise BadInput(
            f"{root}: no scopecount records found (expected {SUBDIR}/<date>/records.jsonl)"
        )
    return days


def read_rows(root: Path) -> list[Row]:
    out = []
    for day in day_folders(root):
        voided = day.voided_ids()

        def bad(n: int, why: str, path: Path = day.records_path) -> None:
            print(f"{path}: line {n} skipped ({why})", file=sys.stderr)

        out += [Row(day.day, r, r.id in voided) for r in day.records(on_bad=bad)]
    out.sort(key=lambda r: (r.day, r.record.time, r.record.id))
    return out


def summarise(rows: list[Row]) -> list[Total]:
    """One total per day and sample id, in the order the samples were first seen."""
    totals: dict[tuple[str, str], Total] = {}
    for r in rows:
        if r.left_out:
            continue
        key = (r.day, r.record.sample)
        t = totals.setdefault(key, Total(*key))
        t.records += 1
        for c, n in r.record.counts.items():
            t.counts[c] += n
        for c, f in record_areas(r.record).items():
            t.shares[c].append(f)
        cs = centroid_size(r.record)
        if cs is not None:
            t.sizes.append(cs)
    return list(totals.values())


def summary_cmd(root: str, csv_out: str | None) -> int:
    if csv_out:  # before any output: a bad --csv is one line, not a half-done run
        writable_file(csv_out, "--csv")
    rows = read_rows(Path(root))
    classes = sorted({c for r in rows for c in r.record.counts})
    areas = sorted({c for r in rows for c in record_areas(r.record)})
    totals = summarise(rows)
    sized = any(centroid_size(r.record) is not None for r in rows)
    heads = [f"{c:>8}" for c in classes] + [f"{c + ' %':>8}" for c in areas]
    heads += [f"{'centroid px':>11}"] if sized else []
    print(f"{'day':<12} {'sample':<20} {'records':>7}  " + "  ".join(heads))
    for t in totals:
        cells = [f"{t.counts.get(c, 0):>8}" for c in classes]
        cells += [f"{t.mean_share(c):>8}" for c in areas]  # areas: the mean share of the view
        cells += [f"{t.mean_size():>11}"] if sized else []  # landmarks: the mean centroid size
        print(f"{t.day:<12} {t.sample[:20]:<20} {t.records:>7}  " + "  ".join(cells))
    n_void = sum(r.voided for r in rows)
    why: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.left_out:
            why[r.left_out] += 1
    days = len({r.day for r in rows})
    print(f"{len(rows)} records ({n_void} voided) over {days} day{'' if days == 1 else 's'}")
    left = sum(why.values())
    detail = ", ".join(f"{n} {w}" for w, n in sorted(why.items()))
    print(
        f"{left} record{'' if left == 1 else 's'} left out of the totals"
        + (f" ({detail})" if left else "")
    )
    for line in unsummed(rows, totals):
        print(line)
    if csv_out:
        _write_csv(Path(csv_out), rows, classes, areas, sized)
    return 0


def unsummed(rows: list[Row], totals: list[Total]) -> list[str]:
    """The samples every record of which was left out: they have no row above, and a missing
    row must not read as a sample never measured (or, worse, as zero)."""
    summed = {(t.day, t.sample) for t in totals}
    why: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        if (r.day, r.record.sample) not in summed:
            why[(r.day, r.record.sample)].add(r.left_out)
    return [
        f"{day} {printable(sample)}: every record left out ({', '.join(sorted(w))})"
        for (day, sample), w in why.items()
    ]


def _write_csv(
    out: Path, rows: list[Row], classes: list[str], areas: list[str], sized: bool
) -> None:
    tmp = out.with_name(f".{out.name}.tmp")
    shares = [f"{c} fraction" for c in areas]
    size = ["centroid_size_px"] if sized else []
    head = ["day", "id", "time", "sample", "model", *classes, *shares, *size, "flags", "voided"]
    head.append("left_out")
    try:
        f = open(tmp, "w", newline="", encoding="utf-8")
    except OSError as e:  # checked before, but a stick can go read-only meanwhile
        raise BadInput(f"--csv {out}: cannot write ({e.strerror})") from None
    with f:
        w = csv.writer(f)
        w.writerow([neutralise(h) for h in head])
        for r in rows:
            rec = r.record
            text = [r.day, rec.id, rec.time, rec.sample, rec.model]
            w.writerow(
                [neutralise(c) for c in text]
                + [rec.counts.get(c, "") for c in classes]
                + [record_areas(rec).get(c, "") for c in areas]
                + ([centroid_size(rec) if centroid_size(rec) is not None else ""] if sized else [])
                + [neutralise(" ".join(rec.flags)), "yes" if r.voided else "", r.left_out]
            )
    tmp.replace(out)
    print(f"wrote {out}")

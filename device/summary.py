"""`scopecount records summary DIR`: totals per day and sample across a stick, one merged CSV."""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

from device.errors import BadInput
from device.recorder import SUBDIR
from device.writable import writable_file


def day_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise BadInput(f"{root}: not a folder")
    base = root / SUBDIR if (root / SUBDIR).is_dir() else root
    days = sorted(p.parent for p in base.glob("*/records.jsonl"))
    if not days:
        raise BadInput(
            f"{root}: no scopecount records found (expected {SUBDIR}/<date>/records.jsonl)"
        )
    return days


def read_records(root: Path) -> list[dict]:
    out = []
    for day in day_folders(root):
        voided = set()
        if (day / "voids.jsonl").exists():
            for line in (day / "voids.jsonl").read_text(encoding="utf-8").splitlines():
                try:
                    voided.add(json.loads(line)["id"])
                except (ValueError, KeyError):
                    continue
        for n, line in enumerate(
            (day / "records.jsonl").read_text(encoding="utf-8").splitlines(), 1
        ):
            try:
                rec = json.loads(line)
            except ValueError:
                print(f"{day / 'records.jsonl'}: line {n} is not JSON, skipped", file=sys.stderr)
                continue
            rec["day"] = day.name
            rec["voided"] = rec.get("id") in voided
            out.append(rec)
    out.sort(key=lambda r: (r["day"], r.get("seq", 0)))
    return out


def summarise(records: list[dict]) -> list[dict]:
    totals: dict[tuple[str, str], dict] = {}
    for r in records:
        if r["voided"]:
            continue
        key = (r["day"], r.get("sample", ""))
        t = totals.setdefault(
            key, {"day": key[0], "sample": key[1], "records": 0, "counts": defaultdict(int)}
        )
        t["records"] += 1
        for c, n in r.get("counts", {}).items():
            t["counts"][c] += int(n)
    return list(totals.values())


def summary_cmd(root: str, csv_out: str | None) -> int:
    if csv_out:  # before any output: a bad --csv is one line, not a half-done run
        writable_file(csv_out, "--csv")
    records = read_records(Path(root))
    classes = sorted({c for r in records for c in r.get("counts", {})})
    rows = summarise(records)
    print(f"{'day':<12} {'sample':<20} {'records':>7}  " + "  ".join(f"{c:>8}" for c in classes))
    for t in rows:
        cells = "  ".join(f"{t['counts'].get(c, 0):>8}" for c in classes)
        print(f"{t['day']:<12} {t['sample'][:20]:<20} {t['records']:>7}  {cells}")
    n_void = sum(r["voided"] for r in records)
    print(f"{len(records)} records ({n_void} voided) over {len({r['day'] for r in records})} days")
    if csv_out:
        out = Path(csv_out)
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            f = open(tmp, "w", newline="", encoding="utf-8")
        except OSError as e:
            raise BadInput(f"--csv {out}: cannot write ({e.strerror})") from None
        with f:
            w = csv.writer(f)
            w.writerow(["day", "id", "time", "sample", "model", *classes, "flags", "voided"])
            for r in records:
                w.writerow(
                    [r["day"], r.get("id"), r.get("time"), r.get("sample"), r.get("model")]
                    + [r.get("counts", {}).get(c, "") for c in classes]
                    + [" ".join(r.get("flags", [])), "yes" if r["voided"] else ""]
                )
        tmp.replace(out)
        print(f"wrote {out}")
    return 0

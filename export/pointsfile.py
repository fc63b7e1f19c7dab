"""points.csv as rows on disk, for the writers that share it (annotate, import).

Every writer takes the folder's lock, reads the file as it is on disk now, changes only the
rows of the images it owns, and replaces the file atomically: rows another process wrote
meanwhile are never erased. The rows stay strings here; export/folder.py validates them.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from device.core.csvsafe import neutralise
from device.core.errors import BadInput
from device.core.imageio import write_atomic
from export.folder import HEADER

LOCK_NAME = ".points.csv.lock"

Row = list[str]


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """An exclusive lock on the folder's points.csv, across processes (flock on a side file)."""
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def read_rows(path: Path) -> list[Row]:
    """The data rows (no header, no blank rows) as strings; [] when there is no file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        return []
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8 CSV") from None
    return [[c.strip() for c in r] for r in rows[1:] if r and any(c.strip() for c in r)]


def render(rows: list[Row]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def write_rows(path: Path, rows: list[Row]) -> None:
    write_atomic(path, render(rows))


def point_row(name: str, x: float, y: float, label: str) -> Row:
    # A label a spreadsheet would run as a formula gets a leading quote (folder.py undoes it).
    return [name, f"{x:.2f}", f"{y:.2f}", neutralise(label)]

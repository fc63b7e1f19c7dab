"""The rows of a training folder's CSV files (points, classes, landmarks), read with one set of
checks: a regular file, UTF-8, the expected header; each error names the file."""

from __future__ import annotations

import csv
from pathlib import Path

from device.core.errors import BadInput
from device.core.text import printable, printable_path


def csv_rows(path: Path, header: list[str]) -> list[tuple[int, list[str]]]:
    """The non-blank rows after a checked header, each with its line number."""
    where = printable_path(path)
    if not path.is_file():  # a folder or a FIFO: refused before open() can hang on it
        raise BadInput(f"{where}: not a regular file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise BadInput(f"{where}: not UTF-8 text (byte {e.start}); save it as UTF-8 CSV") from None
    except (OSError, csv.Error) as e:
        raise BadInput(f"{where}: unreadable ({printable(str(e))})") from None
    if not rows or [c.strip().lower() for c in rows[0]] != header:
        got = printable(",".join(rows[0])) if rows else "nothing"
        raise BadInput(f"{where}: header is {got!r}, expected {','.join(header)!r}")
    return [
        (n, [c.strip() for c in row])
        for n, row in enumerate(rows[1:], start=2)
        if any(c.strip() for c in row)
    ]

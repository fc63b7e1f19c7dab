"""CSV cells a spreadsheet would run as a formula are neutralised (OWASP CSV injection): a text
cell starting with = + - @ tab or CR gets a leading single quote. Raw values stay in
records.jsonl; numbers are written as numbers and never touched."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def restore(cell: str) -> str:
    """The raw text of a cell neutralise() wrote (readers of our CSVs undo the quote)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def fixed(v: object, places: int) -> str:
    """A number as a spreadsheet reads it without a second look (no 8.5e-05); '' for what is
    not a finite number (a record line may carry anything: a 400-digit integer, NaN)."""
    if not isinstance(v, int | float) or isinstance(v, bool):
        return ""
    try:
        f = float(v)
    except OverflowError:
        return ""
    return f"{f:.{places}f}" if math.isfinite(f) else ""


def csv_line(values: Iterable[object]) -> str:
    """One CSV line (with its newline); text cells neutralised, numbers as they are."""
    buf = io.StringIO()
    cells = [neutralise(v) if isinstance(v, str) else v for v in values]
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()

"""Names that come from people, config files, QR labels and model files, checked where they
enter: no path separators, no control or format characters, a length limit.

A bench name goes into record ids (and so into image file names): it is held to a file-name-safe
alphabet. Sample ids and class names are data only (never part of a file name), so any printable
text within the limit is fine. Pure functions: each returns the cleaned value or raises
BadInput naming where the value came from.
"""

from __future__ import annotations

import re
import unicodedata

from device.core.errors import BadInput

BENCH_NAME_MAX = 32
SAMPLE_MAX = 64
CLASS_MAX = 40
_BENCH_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Control (Cc), format (Cf: bidi overrides, zero-width), surrogates, unassigned, line and
# paragraph separators: invisible or layout-changing in a terminal, a CSV or a page.
_BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# A trailing number longer than this is not a counter (and int() refuses 4300+ digits).
_MAX_COUNTER_DIGITS = 18


def problem(value: str, limit: int) -> str:
    """'' when value is a usable name, else what is wrong with it."""
    if not value.strip():
        return "is empty"
    if len(value) > limit:
        return f"is {len(value)} characters long (at most {limit})"
    if "/" in value or "\\" in value:
        return "contains a path separator (/ or \\)"
    for ch in value:
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            return f"contains a control character (U+{ord(ch):04X})"
    if value != value.strip():
        return "starts or ends with a space"
    if value in (".", ".."):
        return "is not a name"
    return ""


def check_bench_name(value: str, where: str) -> str:
    if not _BENCH_RE.fullmatch(value) or len(value) > BENCH_NAME_MAX:
        raise BadInput(
            f"{where} = {value!r}: a bench name is 1-{BENCH_NAME_MAX} letters, digits, '.', '_' "
            "or '-', starting with a letter or digit (it goes into record ids and file names)"
        )
    return value


def check_sample(value: str, where: str) -> str:
    why = problem(value, SAMPLE_MAX)
    if why:
        raise BadInput(f"{where}: sample id {value[:80]!r} {why}")
    return value


def class_problem(value: str) -> str:
    """problem() for a class name, which also keys CSV files (classes.csv, counts.csv): a
    leading apostrophe is how a spreadsheet-safe cell quotes a formula, so "'=x" would read
    back as "=x", another class."""
    why = problem(value, CLASS_MAX)
    if not why and value.startswith("'"):
        return "starts with an apostrophe"
    return why


def check_class(value: str, where: str) -> str:
    why = class_problem(value)
    if why:
        raise BadInput(f"{where}: class name {value[:80]!r} {why}")
    return value


def clean_sample(value: str) -> str:
    """A QR label as a sample id: what cannot be in one becomes '_', cut to the limit, so that
    the press still makes a record (the label is printed; nobody can retype it at the bench)."""
    out = "".join(
        "_" if ch in "/\\" or unicodedata.category(ch) in _BAD_CATEGORIES else ch for ch in value
    ).strip()
    return out[:SAMPLE_MAX].strip() or "qr"


def next_sample(sample: str) -> str:
    """vial-009 -> vial-010; plate -> plate-2: the sample id moves on after every record.
    Only the last 18 digits count, so that a label of thousands of digits still moves on."""
    m = re.search(rf"(\d{{1,{_MAX_COUNTER_DIGITS}}})$", sample)
    if not m:
        nxt = f"{sample}-2"
    else:
        digits = m.group(1)
        nxt = sample[: m.start()] + str(int(digits) + 1).zfill(len(digits))
    if len(nxt) > SAMPLE_MAX:  # keep the counter, drop the front
        nxt = nxt[-SAMPLE_MAX:]
    return nxt

"""Names of the files commands write: made from parts of user-given names, made safe."""

from __future__ import annotations

import re


def file_part(text: str, most: int = 60) -> str:
    """A name as one safe part of a file name: letters, digits, '.', '-', '_'; at most `most`."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    return safe[:most]

"""Text from a user, a file or a label, made safe to print on a terminal."""

from __future__ import annotations

import unicodedata
from pathlib import Path

# Control (Cc: ANSI escapes, newlines), format (Cf: bidi overrides), surrogate, private-use and
# line/paragraph separator characters: each can make a name print as something it is not.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str, limit: int = 60) -> str:
    """Text safe to print on a terminal: hidden characters escaped, long text cut."""
    out = "".join(
        c if unicodedata.category(c) not in _HIDDEN else c.encode("unicode_escape").decode()
        for c in text[:limit]
    )
    return out + ("..." if len(text) > limit else "")


def printable_path(path: str | Path) -> str:
    """A path for a message: typed by a person or found on a stick, it may hold anything (a
    terminal escape too)."""
    return printable(str(path), 200)


def amount(n: int, noun: str, plural: str | None = None) -> str:
    """'1 wing', '3 wings': a count and its noun, as people write them."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"

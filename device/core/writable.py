"""Checks that a folder or file the user named can be written, before any work starts.

Root passes every permission test, so writability is probed by creating (and removing) a file;
a failure is a BadInput naming the option, never a raw OSError halfway through the work.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from device.core.errors import BadInput
from device.core.text import printable_path


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def writable_dir(path: str | Path, option: str, create: bool = True) -> Path:
    """`path` as a folder this process can write in; created (with parents) when `create`."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise BadInput(f"{option} {p}: exists and is not a folder")
    if not p.exists():
        if not create:
            raise BadInput(f"{option} {p}: no such folder")
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"{option} {p}: cannot create the folder ({_why(e)})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=p, prefix=".scopecount-probe-"):
            pass
    except OSError as e:
        raise BadInput(f"{option} {p}: not writable ({_why(e)})") from None
    return p


def writable_file(path: str | Path, option: str) -> Path:
    """`path` as a file this process can create or replace (its folder must exist)."""
    p = Path(path)
    try:
        is_dir, parent_is_dir = p.is_dir(), p.parent.is_dir()
    except OSError as e:  # a name too long, a loop of links: still bad input, said in one line
        raise BadInput(f"{option} {printable_path(p)}: {_why(e)}") from None
    if is_dir:
        raise BadInput(f"{option} {p}: is a folder, not a file")
    if not parent_is_dir:
        raise BadInput(f"{option} {p}: folder {p.parent} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=p.parent, prefix=".scopecount-probe-"):
            pass
    except OSError as e:
        raise BadInput(f"{option} {p}: not writable (folder {p.parent}: {_why(e)})") from None
    if p.exists():
        try:
            with open(p, "r+b"):
                pass
        except OSError as e:
            raise BadInput(f"{option} {p}: not writable ({_why(e)})") from None
    return p

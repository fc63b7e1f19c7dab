"""One lock for a model store: every change (files, state.json, prune) happens while holding it.

Two pushes that reach a bench at once (two people deploying, a playbook run twice) then queue:
the second waits until the first has written its files and state, and never prunes a file the
first is about to name in state.json. fcntl.flock locks belong to the open file: a killed holder
releases its lock with its last descriptor, so a crash never leaves the store locked.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from device.core.durable import makedirs_durable
from device.core.errors import BadInput
from device.core.text import printable_path

LOCK_NAME = ".lock"
WAIT_S = 120.0  # a holder writes a few files; this long means a stuck process, not a queue


class StoreBusy(Exception):
    """Another process held the store for longer than WAIT_S (exit 1: not the user's input)."""


@contextmanager
def store_lock(root: Path, wait_s: float = WAIT_S) -> Iterator[None]:
    path = root / LOCK_NAME
    try:
        makedirs_durable(root)
        # Never through a link: the pid written below would land in whatever it points at.
        fd = os.open(
            path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644
        )
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            shown = printable_path(path)
            raise BadInput(f"{shown}: not a regular file; remove it to use this model store")
    except OSError as e:  # not a folder, read-only, a path under /proc, not ours
        hint = "; run this as the user that owns it" if isinstance(e, PermissionError) else ""
        shown = printable_path(root)
        raise BadInput(f"{shown}: cannot lock the model store ({e.strerror}){hint}") from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = _holder(path)
                    raise StoreBusy(
                        f"{printable_path(root)}: the model store is locked by another "
                        f"process{holder} "
                        f"for over {wait_s:.0f} s"
                    ) from None
                time.sleep(0.02)
        # Who holds it, for the message above; the lock itself is the flock, not this text.
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds all the same
            pass
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""

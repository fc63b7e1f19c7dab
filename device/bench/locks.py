"""One bench process per storage and spool: fcntl.flock on lock files, the holder's pid inside.

The spool's lock lives in the spool. The storage (a stick that comes and goes, whose bare mount
point is never written) is locked by a file in /run/lock named by a hash of its real path.
The kernel drops a flock when its holder dies, so a killed bench never blocks the next one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from device.core.errors import BadInput
from device.core.text import printable, printable_path


class Busy(BadInput):
    """Another process holds the lock."""


class LockFile:
    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        # Never through a link: a bench run as root must not truncate what a link points at.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self.fd = os.open(self.path, flags, 0o644)
        except OSError as e:
            where = printable_path(self.path)
            raise BadInput(f"{what}: its lock file {where}: {e.strerror}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = printable(os.pread(self.fd, 32, 0).decode(errors="replace").strip()) or "?"
            os.close(self.fd)
            raise Busy(
                f"{what} is in use by another scopecount process (pid {holder}); "
                "stop it first (one bench per storage and spool)"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1


def storage_lock_path(storage: Path) -> Path:
    run = Path("/run/lock")
    base = run if os.access(run, os.W_OK) else Path(tempfile.gettempdir())
    key = hashlib.sha256(os.path.realpath(storage).encode()).hexdigest()[:16]
    return base / f"scopecount-storage-{key}.lock"


class BenchLocks:
    """Both locks, or neither: a second `scopecount run` on either refuses to start."""

    def __init__(self, storage: Path, spool: Path) -> None:
        self.spool = LockFile(Path(spool) / ".lock", f"spool {spool}")
        try:
            self.storage = LockFile(storage_lock_path(Path(storage)), f"storage {storage}")
        except BaseException:
            self.spool.release()
            raise

    def release(self) -> None:
        self.storage.release()
        self.spool.release()

"""Reading a small file that someone else may have put there (a store record, a .sig beside a
model): only a regular file, never through a link (so never a FIFO that hangs the reader or a
device that never ends), and never more than a bound."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from device.core.text import printable_path


class NotRegularFile(ValueError):
    """A folder, a FIFO, a device: not a file to read."""


class FileTooLarge(ValueError):
    """More bytes than the caller's bound."""


def read_regular(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of a regular file: NotRegularFile or FileTooLarge (ValueErrors),
    OSError where it cannot be opened (ELOOP for a link)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)  # before any read: a folder or a FIFO is refused, not read
        why = f"{printable_path(path)}: not a store file of at most {limit} bytes"
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(why)
        if st.st_size > limit:
            raise FileTooLarge(why)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:  # grew while read
        raise FileTooLarge(why)
    return b"".join(chunks)

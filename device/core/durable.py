"""Durable file operations: append one line with one write(), fsync files and folders."""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs_durable(path: Path) -> None:
    """mkdir -p, fsyncing each new folder's parent so that the folder survives a power cut."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        fsync_dir(d.parent)


def create_durable(path: Path) -> None:
    """An empty file at `path` that survives a power cut (nothing done where one is there)."""
    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)


def append_line(path: Path, line: str, header: str | None = None) -> None:
    """Append one complete line with a single write() on an O_APPEND descriptor, then fsync.

    A killed process leaves either the whole line or none of it.
    """
    data = line.rstrip("\n") + "\n"
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        if new and header is not None and start == 0:
            data = header.rstrip("\n") + "\n" + data
        payload = data.encode("utf-8")
        written = os.write(fd, payload)
        if written != len(payload):
            # A filling disk took only part of the line: cut it back so that the next line
            # does not start in the middle of this one.
            os.ftruncate(fd, start)
            os.fsync(fd)
            raise OSError(errno.ENOSPC, f"{path}: no room for a whole line", str(path))
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        fsync_dir(path.parent)


# The bench's own line files stay far below this (a day of presses is a few MB): a bigger one
# is not ours to cut, and is left as it is.
REPAIR_MAX_BYTES = 64 * 2**20


def repair_torn_tail(path: Path, whole: Callable[[bytes], bool] | None = None) -> bool:
    """After a power cut a file may end in half a line: cut it back to the last newline. With
    `whole`, trailing lines it rejects go too: a cut can leave a file's new length on the
    medium without all of the data appended in it (FAT and exFAT: zeros where a sector was not
    written), a line that ends but was never written whole. Only lines after the last good one
    go: a line the bench acknowledged was synced whole before, and stays. A last line without
    its newline that `whole` accepts (a file saved by a script) gets the newline instead.
    Anything but a regular file, or a file over REPAIR_MAX_BYTES, is left alone."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0 or st.st_size > REPAIR_MAX_BYTES:
        return False
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        data = _read_all(fd)
        size = len(data)
        end = data.rfind(b"\n") + 1  # 0: no newline at all
        if end < size and whole is not None and whole(data[end:]):
            os.lseek(fd, 0, os.SEEK_END)
            os.write(fd, b"\n")
            os.fsync(fd)
            return True
        if whole is not None:
            while end > 0:
                start = data.rfind(b"\n", 0, end - 1) + 1
                if whole(data[start : end - 1]):
                    break
                end = start
        if end == size:
            return False
        os.ftruncate(fd, end)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def json_object_line(line: bytes) -> bool:
    """A whole JSON-lines line: one JSON object (a validator for repair_torn_tail)."""
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def text_line(line: bytes) -> bool:
    """A whole CSV line: no NUL bytes, which no writer here puts in text (a validator)."""
    return b"\x00" not in line


def replace_file(path: Path, data: bytes) -> None:
    """Write bytes to a temporary name beside `path`, fsync, rename, fsync the folder.

    Never a half file at `path`. The one writer of whole files: images go through it too
    (device/imageio.write_atomic), and it imports no OpenCV, so the store stays quick to load.
    """
    _write_and_rename(path, data, sync=True)
    # On FAT the rename makes a new folder entry that the file's own inode fills in (first
    # cluster, size) only when the file is written back: fsyncing the folder alone left the
    # entry empty, and a power cut then lost the file's contents (found by `make pi-crash`).
    _fsync_path(path)
    fsync_dir(path.parent)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_unsynced(path: Path, data: bytes) -> None:
    """replace_file without its fsyncs, for a batch that sync_filesystem then makes durable at
    once: on a FAT stick each fsync rewrites both file tables and the folder's entries, so a
    batch of files costs one such flush instead of one per file."""
    _write_and_rename(path, data, sync=False)


def can_sync_filesystem() -> bool:
    """Whether the C library has syncfs (glibc and musl have): without it a batch of files is
    made durable file by file."""
    return _syncfs() is not None


def sync_filesystem(path: Path) -> None:
    """Everything written so far to the filesystem holding `path` reaches its device, or
    OSError (syncfs reports writeback errors, an EIO from a dying stick, from Linux 5.8)."""
    syncfs = _syncfs()
    if syncfs is None:
        raise OSError(errno.ENOSYS, "syncfs is not available: write file by file")
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{path}: syncfs failed: {os.strerror(err)}", str(path))
    finally:
        os.close(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def _write_and_rename(path: Path, data: bytes, sync: bool) -> None:
    # A new file of our own, never one that is there: a folder from elsewhere (a stick, a
    # training folder) may hold a link or a FIFO at any name it can guess.
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        view = memoryview(data)
        while view:  # a filling disk takes part of a write(): go on until all or an error
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

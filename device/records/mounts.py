"""Is the USB stick really there? Read /proc/self/mountinfo, never guess from a directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str
    options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) + 0 and s[i + 1 : i + 4].isdigit():
            out.append(chr(int(s[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if "-" not in parts:
            continue
        sep = parts.index("-")
        if sep < 6 or len(parts) < sep + 3:
            continue
        mounts.append(
            Mount(
                mount_point=_unescape(parts[4]),
                fstype=parts[sep + 1],
                source=_unescape(parts[sep + 2]),
                options=tuple(parts[5].split(",")),
            )
        )
    return mounts


def _mounts(mountinfo: str | None) -> list[Mount]:
    """The given mountinfo text parsed, or this process's own (none where it cannot be read)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return []
    return parse_mountinfo(mountinfo)


def mount_at(path: str | Path, mountinfo: str | None = None) -> Mount | None:
    """The filesystem mounted exactly at path (the last one wins), autofs placeholders aside."""
    target = os.path.realpath(path)
    found = None
    for m in _mounts(mountinfo):
        if m.mount_point == target:
            found = m
    if found is None or found.fstype == "autofs":
        return None
    return found


def mount_holding(path: str | Path, mountinfo: str | None = None) -> Mount | None:
    """The filesystem a path lives on: the deepest mount point above it (the last one wins)."""
    target = os.path.realpath(path)
    best: Mount | None = None
    for m in _mounts(mountinfo):
        mp = m.mount_point.rstrip("/") + "/"
        if (target + "/").startswith(mp) and (
            best is None or len(m.mount_point) >= len(best.mount_point)
        ):
            best = m
    return best


RAM_FILESYSTEMS = ("overlay", "tmpfs", "ramfs")


def free_bytes(path: str | Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class PinnedRoot:
    """A folder on the filesystem mounted at a path, held open, so that every write goes to that
    filesystem and never to the bare mount point under it (after `umount -l` the path resolves
    to the SD card, the held folder does not). Paths go through /proc/self/fd/N."""

    def __init__(self, mount_point: Path, mountinfo_path: str = "/proc/self/mountinfo") -> None:
        self.mount_point = Path(mount_point)
        self.mountinfo_path = mountinfo_path
        self.fd = os.open(self.mount_point, os.O_RDONLY | os.O_DIRECTORY)
        self.dev = os.fstat(self.fd).st_dev
        self.path = Path(f"/proc/self/fd/{self.fd}")
        if not self.mounted():
            self.close()
            raise FileNotFoundError(f"nothing is mounted at {mount_point}")

    def mounted(self) -> bool:
        """The filesystem is still mounted at the path and is the one held open."""
        try:
            info = Path(self.mountinfo_path).read_text()
            if mount_at(self.mount_point, info) is None:
                return False
            return (
                os.stat(self.mount_point).st_dev
                == self.dev
                != os.stat(self.mount_point.parent).st_dev
            )
        except OSError:
            return False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> PinnedRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""A read-only exFAT reader for `make pi-crash`, from Microsoft's exFAT specification.

This machine's kernel has no exfat driver, and exfat-fuse reads a directory whose last entry set
was cut mid-way (the end-of-directory marker, then a stray continuation of the cut set) as empty,
where the specification (and Linux) stop at the marker and keep the entries before it. So the
crash states are read here: the boot sector, the allocation chains of the FAT (or the contiguous
runs of NoFatChain files), directory entry sets (file 0x85, stream extension 0xC0, file name
0xC1), up to the first end-of-directory entry (0x00); deleted sets (type below 0x80) skipped.
A file reads up to its ValidDataLength; past it, zeros (as the specification says).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FILE, STREAM, NAME = 0x85, 0xC0, 0xC1
DIRECTORY = 0x10
END_OF_CHAIN = 0xFFFFFFFF


class ExfatError(ValueError):
    """Not an exFAT volume this reader can follow (a bad boot sector, a chain that loops)."""


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    first_cluster: int
    valid_length: int
    length: int
    contiguous: bool


class Volume:
    def __init__(self, image: Path) -> None:
        self.f = open(image, "rb")  # noqa: SIM115 - closed by close()
        boot = self.f.read(512)
        if boot[3:11] != b"EXFAT   ":
            raise ExfatError(f"{image}: no exFAT boot sector")
        self.fat_offset, _fat_length, self.heap_offset, self.clusters, self.root = (
            struct.unpack_from("<IIIII", boot, 80)
        )
        if not 9 <= boot[108] <= 12 or boot[108] + boot[109] > 25:
            raise ExfatError(f"{image}: sector or cluster size out of the specification's range")
        self.sector = 1 << boot[108]
        self.cluster = self.sector << boot[109]

    def close(self) -> None:
        self.f.close()

    def _read(self, offset: int, size: int) -> bytes:
        self.f.seek(offset)
        return self.f.read(size)

    def _next(self, cluster: int) -> int:
        raw = self._read(self.fat_offset * self.sector + 4 * cluster, 4)
        return struct.unpack("<I", raw)[0] if len(raw) == 4 else END_OF_CHAIN

    def chain(self, first: int, length: int | None, contiguous: bool) -> Iterator[int]:
        """The clusters of a file (length in bytes, for contiguous files) or of a directory."""
        end = self.clusters + 2  # clusters are numbered 2 .. clusters + 1
        if first < 2:
            return
        if contiguous:
            yield from range(first, min(end, first + -(-(length or 0) // self.cluster)))
            return
        seen: set[int] = set()
        c = first
        while 2 <= c < end:
            if c in seen:
                raise ExfatError(f"cluster chain from {first} loops")
            seen.add(c)
            yield c
            c = self._next(c)

    def _cluster(self, c: int) -> bytes:
        return self._read(self.heap_offset * self.sector + (c - 2) * self.cluster, self.cluster)

    def read(self, e: Entry) -> bytes:
        data = b"".join(
            self._cluster(c) for c in self.chain(e.first_cluster, e.length, e.contiguous)
        )
        valid = data[: e.valid_length]
        return valid + bytes(max(0, min(e.length, len(data)) - len(valid)))

    def listdir(
        self, first: int, length: int | None = None, contiguous: bool = False
    ) -> list[Entry]:
        raw = b"".join(self._cluster(c) for c in self.chain(first, length, contiguous))
        out, i = [], 0
        while i + 32 <= len(raw):
            kind = raw[i]
            if kind == 0x00:  # end of directory: nothing after it counts
                break
            if kind != FILE:
                i += 32
                continue
            count, attrs = raw[i + 1], struct.unpack_from("<H", raw, i + 4)[0]
            entries = raw[i : i + 32 * (count + 1)]
            i += 32 * (count + 1)
            if count < 2 or len(entries) < 32 * (count + 1) or entries[32] != STREAM:
                continue
            flags, name_len = entries[33], entries[35]
            valid, first_c, size = struct.unpack_from("<Q4xIQ", entries, 32 + 8)
            name = b"".join(
                entries[32 * k + 2 : 32 * k + 32]
                for k in range(2, count + 1)
                if entries[32 * k] == NAME
            )
            text = name.decode("utf-16-le", errors="replace")[:name_len]
            out.append(Entry(text, bool(attrs & DIRECTORY), first_c, valid, size, bool(flags & 2)))
        return out

    def walk(
        self, folder: Entry | None = None, seen: set[int] | None = None
    ) -> Iterator[tuple[str, Entry]]:
        """(path, entry) for everything under a folder (the root when None); a folder met a
        second time (a damaged entry pointing back up) is not entered again."""
        seen = {self.root} if seen is None else seen
        children = (
            self.listdir(self.root)
            if folder is None
            else self.listdir(folder.first_cluster, folder.length, folder.contiguous)
        )
        for e in children:
            yield e.name, e
            if e.is_dir and e.first_cluster not in seen:
                seen.add(e.first_cluster)
                for sub, child in self.walk(e, seen):
                    yield f"{e.name}/{sub}", child


def copy_out(image: Path, top: str, dest: Path) -> None:
    """The folder `top` of the volume (and all under it) written under dest, as a reader sees it."""
    vol = Volume(image)
    try:
        for path, e in vol.walk():
            if path != top and not path.startswith(top + "/"):
                continue
            if "\x00" in path or any(part in ("", ".", "..") for part in path.split("/")):
                continue  # a cut can leave any name: never a path out of dest
            target = dest / path
            if e.is_dir:
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(vol.read(e))
    finally:
        vol.close()

"""The exFAT reader pi-crash reads crash states with, on a volume made by mkfs.exfat with entry
sets written into its root folder as the specification lays them out."""

import shutil
import struct
import subprocess

import pytest

from tests.pi.exfat_read import ExfatError, Volume, copy_out


def checksum(entries: bytes) -> int:
    c = 0
    for k, b in enumerate(entries):
        if k in (2, 3):
            continue
        c = (((c << 15) | (c >> 1)) & 0xFFFF) + b & 0xFFFF
    return c


def entry_set(name: str, first: int, length: int, valid: int, folder: bool = False) -> bytes:
    chars = name.encode("utf-16-le")
    names = [chars[i : i + 30].ljust(30, b"\0") for i in range(0, len(chars), 30)]
    file = bytearray(32)
    file[0], file[1] = 0x85, 1 + len(names)
    file[4:6] = struct.pack("<H", 0x10 if folder else 0x20)
    stream = bytearray(32)
    stream[0], stream[1], stream[3] = 0xC0, 0x03, len(name)  # allocation possible, NoFatChain
    stream[8:16] = struct.pack("<Q", valid)
    stream[20:24] = struct.pack("<I", first)
    stream[24:32] = struct.pack("<Q", length)
    body = bytes(file) + bytes(stream) + b"".join(b"\xc1\x00" + n for n in names)
    out = bytearray(body)
    out[2:4] = struct.pack("<H", checksum(body))
    return bytes(out)


@pytest.fixture
def volume(tmp_path):
    if shutil.which("mkfs.exfat") is None:
        pytest.skip("mkfs.exfat not installed (make test installs exfatprogs as root)")
    image = tmp_path / "x.img"
    with open(image, "wb") as f:
        f.truncate(8 * 2**20)
    subprocess.run(["mkfs.exfat", "-c", "4096", str(image)], check=True, capture_output=True)
    return image


def put(image, vol: Volume, cluster: int, data: bytes) -> None:
    with open(image, "r+b") as f:
        f.seek(vol.heap_offset * vol.sector + (cluster - 2) * vol.cluster)
        f.write(data)


def root_append(image, vol: Volume, raw: bytes) -> None:
    """Entry sets after the root folder's last entry (mkfs's bitmap, up-case table, label)."""
    data = vol._cluster(vol.root)
    end = next(i for i in range(0, len(data), 32) if data[i] == 0)
    put(image, vol, vol.root, data[:end] + raw + data[end + len(raw) :])


def test_files_and_folders_are_read_as_written_and_a_short_valid_length_reads_zeros(
    tmp_path, volume
):
    vol = Volume(volume)
    free = vol.clusters - 8  # high clusters: mkfs leaves them free
    put(volume, vol, free, b'{"id": "a"}\n'.ljust(vol.cluster, b"\xff"))
    put(volume, vol, free + 1, entry_set("records.jsonl", free, 12, 12))
    put(volume, vol, free + 2, b"half".ljust(vol.cluster, b"\xee"))
    sub = entry_set("records.jsonl", free, 12, 12) + entry_set("counts.csv", free + 2, 8, 4)
    put(volume, vol, free + 1, sub.ljust(vol.cluster, b"\0"))
    root_append(volume, vol, entry_set("scopecount", free + 1, vol.cluster, vol.cluster, True))
    vol.close()
    copy_out(volume, "scopecount", tmp_path / "out")
    assert (tmp_path / "out/scopecount/records.jsonl").read_bytes() == b'{"id": "a"}\n'
    assert (tmp_path / "out/scopecount/counts.csv").read_bytes() == b"half\0\0\0\0"


def test_the_end_of_a_folder_is_its_first_free_entry_and_a_cut_set_after_it_is_ignored(
    tmp_path, volume
):
    vol = Volume(volume)
    free = vol.clusters - 8
    put(volume, vol, free, b"data".ljust(vol.cluster, b"\0"))
    whole = entry_set("kept.txt", free, 4, 4)
    cut = entry_set(".counts.csv.tmp9", free, 4, 4)
    # the first entry of the cut set never reached the medium: an end marker, then the rest
    root_append(volume, vol, whole + bytes(32) + cut[32:])
    names = [e.name for e in vol.listdir(vol.root)]
    assert "kept.txt" in names and ".counts.csv.tmp9" not in names
    vol.close()


def test_not_an_exfat_volume_is_refused(tmp_path):
    bad = tmp_path / "bad.img"
    bad.write_bytes(bytes(4096))
    with pytest.raises(ExfatError, match="no exFAT boot sector"):
        Volume(bad)

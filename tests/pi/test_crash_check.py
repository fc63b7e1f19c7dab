"""The checks `make pi-crash` runs on each rebuilt device, on FAT32 and ext4 images made here in
user space (mtools, mkfs.ext4 -d): what a cut can leave is found, what the bench's start-up
repairs is not counted against it."""

import shutil
import subprocess

import pytest

from tests.pi.crash_check import Expect, check_state
from tests.records.test_records import local, records_on, write

TOOLS = {"vfat": ("mkfs.vfat", "mcopy", "fsck.vfat"), "ext4": ("mkfs.ext4", "e2fsck", "debugfs")}


def image_of(fs: str, tree, path):
    missing = [t for t in TOOLS[fs] if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{missing[0]} not installed (make test installs it as root)")
    with open(path, "wb") as f:
        f.truncate(40 * 2**20)
    if fs == "vfat":
        subprocess.run(["mkfs.vfat", "-F", "32", str(path)], check=True, capture_output=True)
        subprocess.run(["mcopy", "-s", "-i", str(path), str(tree / "scopecount"), "::/"],
                       check=True, capture_output=True)  # fmt: skip
    else:
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(path)], check=True)
    return path


@pytest.fixture
def stick(tmp_path):
    rec = local(tmp_path, storage="stick")
    made = [write(rec, i) for i in range(3)]
    rec.void(made[1].id)
    return tmp_path / "stick", made


@pytest.mark.parametrize("fs", ["vfat", "ext4"])
def test_a_whole_stick_passes_and_an_acknowledged_record_missing_is_lost(tmp_path, stick, fs):
    tree, made = stick
    keys = tuple((r.time, r.sample) for r in made)
    image = image_of(fs, tree, tmp_path / "s.img")
    work = tmp_path / "w"
    work.mkdir()
    v = check_state(fs, "stick", image, Expect(records=keys, voids=(keys[1],)), work)
    assert v.ok, v.why()
    v = check_state(fs, "stick", image, Expect(records=(*keys, ("2026-01-01", "never"))), work)
    assert v.lost == ["stick 2026-01-01 never"]


@pytest.mark.parametrize("fs", ["vfat", "ext4"])
def test_what_a_cut_leaves_is_repaired_and_what_is_broken_is_found(tmp_path, stick, fs):
    tree, made = stick
    day = next((tree / "scopecount").iterdir())
    keys = tuple((r.time, r.sample) for r in made)
    with open(day / "records.jsonl", "ab") as f:
        f.write(b'{"id": "half a li')  # never acknowledged: the start-up cuts it
    with open(day / "counts.csv", "ab") as f:
        f.write(b"phantom,t,s,m,egg,3,,\n")  # rows before their record line: regenerated
    work = tmp_path / "w"
    work.mkdir()
    v = check_state(fs, "stick", image_of(fs, tree, tmp_path / "a.img"), Expect(keys), work)
    assert v.ok, v.why()
    (day / made[0].image).unlink()
    lines = (day / "records.jsonl").read_text().splitlines()
    (day / "records.jsonl").write_text("\n".join([lines[0], *lines]) + "\n")
    v = check_state(fs, "stick", image_of(fs, tree, tmp_path / "b.img"), Expect(keys), work)
    assert any("without its image" in t for t in v.torn)
    assert v.duplicated and not v.lost
    assert len(records_on(tree)) == 4  # the tree itself was never touched by the check

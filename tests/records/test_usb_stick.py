"""The USB stick path: which block devices the udev rule hands to the mount helper, and what the
helper does with real filesystems on loop devices (as root; skipped otherwise)."""

import fnmatch
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

RULES = REPO / "systemd" / "99-scopecount-usb.rules"
HELPER = REPO / "systemd" / "scopecount-stick"


def parse_rules(text: str) -> list[tuple[list[tuple[str, str, str]], list[str]]]:
    """Each rule: its match conditions (key, op, pattern) and its RUN programs."""
    rules = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        matches, runs = [], []
        for key, op, value in re.findall(
            r'([A-Z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|=)\s*"([^"]*)"', line
        ):
            if op in ("==", "!="):
                matches.append((key, op, value))
            elif key.startswith("RUN"):
                runs.append(value)
        rules.append((matches, runs))
    return rules


def fired(props: dict[str, str]) -> list[str]:
    """What udev would run for an event with these properties (==/!= with | and globs)."""
    out = []
    for matches, runs in parse_rules(RULES.read_text()):
        ok = True
        for key, op, pattern in matches:
            name = key[4:-1] if key.startswith("ENV{") else key
            value = props.get(name, "")
            hit = any(fnmatch.fnmatchcase(value, p) for p in pattern.split("|"))
            ok &= hit if op == "==" else not hit
        if ok:
            out += [r.replace("$devnode", props.get("DEVNAME", "")) for r in runs]
    return out


def usb(**kw: str) -> dict[str, str]:
    return {"ACTION": "add", "SUBSYSTEM": "block", "ID_BUS": "usb", "DEVNAME": "/dev/sda1", **kw}


def test_rule_hands_only_usb_filesystems_to_the_helper():
    helper = "/usr/local/lib/scopecount/scopecount-stick"
    for fs in ("vfat", "exfat", "ext4", "ntfs"):
        part = usb(DEVTYPE="partition", ID_FS_USAGE="filesystem", ID_FS_TYPE=fs)
        assert fired(part) == [f"{helper} add /dev/sda1"]
    # A stick formatted without a partition table: the whole disk carries the filesystem.
    whole = usb(DEVTYPE="disk", DEVNAME="/dev/sdb", ID_FS_USAGE="filesystem", ID_FS_TYPE="vfat")
    assert fired(whole) == [f"{helper} add /dev/sdb"]
    # The partitioned disk itself, HFS+, swap, and a SATA/NVMe disk: nothing.
    assert fired(usb(DEVTYPE="disk", ID_PART_TABLE_TYPE="dos")) == []
    assert fired(usb(ID_FS_USAGE="filesystem", ID_FS_TYPE="hfsplus")) == []
    assert fired(usb(ID_FS_USAGE="other", ID_FS_TYPE="swap")) == []
    nvme = usb(ID_BUS="nvme", ID_FS_USAGE="filesystem", ID_FS_TYPE="ext4")
    assert fired(nvme) == []
    # Removal goes to the helper, which unmounts only the device it mounted.
    gone = usb(ACTION="remove", ID_FS_USAGE="filesystem", ID_FS_TYPE="exfat")
    assert fired(gone) == [f"{helper} remove /dev/sda1"]


def need_root_tools(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("loop devices need root (CI runs as root)")
    for t in ("losetup", "lsblk", "findmnt", "blkid", "runuser", *tools):
        if not shutil.which(t):
            pytest.skip(f"{t} is not installed")


class Loop:
    def __init__(self, tmp: Path, name: str, mkfs: list[str]) -> None:
        self.image = tmp / f"{name}.img"
        with open(self.image, "wb") as f:
            f.truncate(64 * 2**20)
        subprocess.run([*mkfs, str(self.image)], check=True, capture_output=True)
        self.dev = subprocess.run(
            ["losetup", "-f", "--show", str(self.image)], check=True, capture_output=True, text=True
        ).stdout.strip()

    def close(self) -> None:
        subprocess.run(["losetup", "-d", self.dev], capture_output=True)


def stick(*args: str, media: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SCOPECOUNT_USER="nobody", SCOPECOUNT_MEDIA=str(media))
    return subprocess.run([str(HELPER), *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    "fs,mkfs", [("vfat", ["mkfs.vfat", "-F", "32"]), ("exfat", ["mkfs.exfat"])]
)
def test_fat_sticks_mount_owned_by_the_service_user(tmp_path, fs, mkfs):
    need_root_tools(mkfs[0])
    if fs not in Path("/proc/filesystems").read_text().split():
        pytest.skip(f"this kernel has no {fs} driver (make pi-test mounts real {fs} sticks)")
    media = tmp_path / "media"
    media.mkdir()
    loop = Loop(tmp_path, fs, mkfs)  # no partition table: the whole device is the filesystem
    try:
        out = stick("check", loop.dev, media=media)
        assert out.returncode == 0, out.stdout
        opts = out.stdout.strip().rsplit(" with ", 1)[1]
        assert "uid=65534" in opts and "gid=65534" in opts and "noexec" in opts
        subprocess.run(["mount", "-t", fs, "-o", opts, loop.dev, str(media)], check=True)
        try:
            # The service user (here nobody) writes and fsyncs a record on it.
            w = subprocess.run(
                ["runuser", "-u", "nobody", "--", "python3", "-c",
                 "import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_APPEND);"
                 "os.write(fd, b'{}\\n'); os.fsync(fd)", str(media / "records.jsonl")],
                capture_output=True, text=True,
            )  # fmt: skip
            assert w.returncode == 0, w.stderr
            assert (media / "records.jsonl").stat().st_uid == 65534
            # Another stick while this one is mounted: refused.
            other = Loop(tmp_path, "other", ["mkfs.vfat"])
            try:
                assert "already holds" in stick("check", other.dev, media=media).stdout
                stick("remove", other.dev, media=media)  # not the mounted one: stays
                assert subprocess.run(["mountpoint", "-q", str(media)]).returncode == 0
            finally:
                other.close()
        finally:
            out = stick("remove", loop.dev, media=media)  # the mounted one: unmounted
            if subprocess.run(["mountpoint", "-q", str(media)]).returncode == 0:
                subprocess.run(["umount", "-l", str(media)])
                pytest.fail(f"remove left the stick mounted: {out.stdout}{out.stderr}")
    finally:
        loop.close()


def test_a_disk_with_a_mounted_filesystem_is_never_taken(tmp_path):
    need_root_tools("mkfs.ext4")
    media, elsewhere = tmp_path / "media", tmp_path / "elsewhere"
    media.mkdir()
    elsewhere.mkdir()
    loop = Loop(tmp_path, "ssd", ["mkfs.ext4", "-q"])
    try:
        assert stick("check", loop.dev, media=media).returncode == 0
        subprocess.run(["mount", loop.dev, str(elsewhere)], check=True)  # as a boot disk is
        try:
            out = stick("check", loop.dev, media=media)
            assert out.returncode == 1 and "holds a mounted filesystem" in out.stdout
        finally:
            subprocess.run(["umount", str(elsewhere)], check=True)
    finally:
        loop.close()
    root = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "/"], capture_output=True, text=True)
    dev = root.stdout.strip()
    if dev.startswith("/dev/"):  # the disk this machine runs from
        assert "system disk" in stick("check", dev, media=media).stdout


@pytest.mark.parametrize(
    "fs,mkfs,driver,fsck",
    [
        ("vfat", ["mkfs.vfat", "-F", "32"], "vfat", "yes"),
        ("exfat", ["mkfs.exfat"], "exfat", "yes"),
        ("ext4", ["mkfs.ext4", "-q", "-F"], "ext4", "yes"),
        ("ntfs", ["mkntfs", "-q", "-F", "-Q"], "ntfs3", "no"),
    ],
)
def test_what_each_stick_type_gets(tmp_path, fs, mkfs, driver, fsck):
    """A pulled FAT, exFAT or ext4 stick is repaired at the next mount (systemd-fsck); NTFS goes
    through the kernel's ntfs3 and has no checker on Linux."""
    need_root_tools(mkfs[0])
    media = tmp_path / "media"
    media.mkdir()
    loop = Loop(tmp_path, fs, mkfs)
    try:
        out = stick("check", loop.dev, media=media)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"({fs}, driver {driver}, check at mount: {fsck})" in out.stdout
        assert "uid=" in out.stdout or fs == "ext4"
        assert "nosymfollow" in out.stdout  # a link on the stick never leads off it
    finally:
        loop.close()

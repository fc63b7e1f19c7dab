from device.records.mounts import mount_at, parse_mountinfo

INFO = """\
22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/root rw
41 22 0:38 / /media/scopecount rw,relatime shared:20 - autofs systemd-1 rw,fd=51
57 41 8:1 / /media/scopecount rw,nosuid,nodev,relatime shared:30 - vfat /dev/sda1 rw,flush
60 22 8:17 / /media/with\\040space ro,relatime shared:31 - exfat /dev/sdb1 ro
61 22 0:40 / /media/auto rw,relatime shared:32 - autofs systemd-1 rw
"""


def test_parse_mountinfo():
    mounts = parse_mountinfo(INFO)
    assert [m.mount_point for m in mounts][:3] == ["/", "/media/scopecount", "/media/scopecount"]
    assert mounts[3].mount_point == "/media/with space" and mounts[3].read_only
    assert mounts[2].fstype == "vfat" and mounts[2].source == "/dev/sda1"


def test_stick_behind_autofs_counts_bare_autofs_does_not():
    m = mount_at("/media/scopecount", INFO)
    assert m is not None and m.fstype == "vfat"
    assert mount_at("/media/auto", INFO) is None
    assert mount_at("/media/nothing", INFO) is None
    assert mount_at("/media", INFO) is None  # a parent of a mount is not the mount


def test_the_filesystem_a_path_lives_on():
    from device.records.mounts import mount_holding

    info = (
        "22 1 179:2 / / rw,noatime - ext4 /dev/mmcblk0p2 rw\n"
        "30 22 0:27 / /var/lib rw - overlay overlay rw,lowerdir=/x\n"
        "31 22 8:1 / /media/scopecount rw - vfat /dev/sda1 rw\n"
    )
    assert mount_holding("/var/lib/scopecount/spool", info).fstype == "overlay"
    assert mount_holding("/var/libx", info).fstype == "ext4"  # a prefix, not a parent
    assert mount_holding("/media/scopecount/scopecount", info).source == "/dev/sda1"
    assert mount_holding("/", info).fstype == "ext4"

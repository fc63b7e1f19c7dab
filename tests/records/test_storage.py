"""Records on real filesystems: a loop-mounted ext4 stick pulled with umount -l, a full tmpfs,
and SIGKILL at random moments. Needs root (CI runs as root); skips otherwise."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from device.records.dayfolder import Detection, Record
from device.records.recorder import Recorder

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root (CI runs as root)")


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture
def stick(tmp_path):
    img = tmp_path / "stick.img"
    mnt = tmp_path / "stick"
    mnt.mkdir()
    sh("truncate", "-s", "256M", str(img))
    sh("mkfs.ext4", "-q", "-F", str(img))

    def plug():
        sh("mount", "-o", "loop", str(img), str(mnt))

    def pull():
        sh("umount", "-l", str(mnt))

    plug()
    yield mnt, plug, pull
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def write(rec: Recorder, i: int) -> Record:
    rgb = np.full((32, 32, 3), i % 255, np.uint8)
    dets = [Detection(1.0, 2.0, "egg")] * (i % 3)
    return rec.write(rgb, {"egg": i}, dets, ["egg"], f"s{i}", "m", "0" * 64, [])


def ids_on(root: Path) -> list[str]:
    out = []
    for p in sorted(root.glob("scopecount/*/records.jsonl")):
        out += [json.loads(x)["id"] for x in p.read_text().splitlines()]
    return out


def test_pull_and_replug_moves_spool_exactly_once(tmp_path, stick):
    mnt, plug, pull = stick
    rec = Recorder(mnt, tmp_path / "spool", "b1")
    a = write(rec, 1)
    assert a.stored == "stick"
    pull()
    assert rec.state().where == "spool"
    b, c = write(rec, 2), write(rec, 3)
    assert b.stored == c.stored == "spool"
    assert list(mnt.iterdir()) == []  # the bare mount point stays empty
    assert rec.state().waiting == 2
    plug()
    assert rec.flush().moved == 2
    assert rec.flush().moved == 0
    assert ids_on(mnt) == [a.id, b.id, c.id]
    assert ids_on(tmp_path / "spool") == []
    day = next(mnt.glob("scopecount/*"))
    assert (day / c.image).exists()
    assert len((day / "counts.csv").read_text().splitlines()) == 4


def test_flush_interrupted_after_copying_is_not_duplicated(tmp_path, stick):
    mnt, plug, pull = stick
    rec = Recorder(mnt, tmp_path / "spool", "b1")
    pull()
    ids = [write(rec, i).id for i in range(3)]
    plug()
    # A crash after two records reached the stick but before the spool was cleaned:
    day = next((tmp_path / "spool").glob("scopecount/*"))
    dest = mnt / "scopecount" / day.name
    dest.mkdir(parents=True)
    lines = (day / "records.jsonl").read_text().splitlines()
    (dest / "records.jsonl").write_text("\n".join(lines[:2]) + "\n")
    # ...and the third record's points and counts rows were written, its record line not yet.
    third = json.loads(lines[2])
    name = Path(third["image"]).name
    spool_points = [
        ln for ln in (day / "points.csv").read_text().splitlines() if ln.startswith(name)
    ]
    (dest / "points.csv").write_text("image,x,y,label\n" + "\n".join(spool_points) + "\n")
    (dest / "counts.csv").write_text(
        "id,time,sample,model,egg,flags\n" + third["id"] + ",t,s,m,2,\n"
    )
    assert rec.flush().moved == 1
    assert ids_on(mnt) == ids
    assert (dest / "counts.csv").read_text().count(third["id"]) == 1
    pts_after = [ln for ln in (dest / "points.csv").read_text().splitlines() if ln.startswith(name)]
    assert pts_after == spool_points


def test_full_stick_falls_back_to_spool(tmp_path):
    mnt = tmp_path / "full"
    mnt.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt))
    try:
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={mnt}/filler", "bs=1M", "count=8"], capture_output=True
        )
        rec = Recorder(mnt, tmp_path / "spool", "b1")
        st = rec.state()
        assert st.where == "spool" and "full" in st.reason
        r = write(rec, 5)
        assert r.stored == "spool"
        assert ids_on(tmp_path / "spool") == [r.id]
    finally:
        sh("umount", "-l", str(mnt))


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt))
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_stick_filling_during_a_record_leaves_no_half_image_and_the_spool_takes_it(
    tmp_path, small_tmpfs
):
    mnt = small_tmpfs
    sh("dd", "if=/dev/zero", f"of={mnt}/filler", "bs=512k", "count=7")  # 4.5 MB left
    rec = Recorder(mnt, tmp_path / "spool", "b1", image_format="png")
    assert rec.state().where == "stick"  # room enough by the 4 MB check
    rgb = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), np.uint8)  # ~5.8 MB PNG
    r = rec.write(
        rgb, {"egg": 3}, [Detection(1.0, 2.0, "egg")] * 3, ["egg"], "s", "m", "0" * 64, []
    )
    assert r.stored == "spool"
    assert ids_on(mnt) == []
    assert [p.name for p in mnt.rglob("*") if p.is_file() and p.name != "filler"] == []
    spooled = next((tmp_path / "spool").rglob(f"{r.id}.png")).read_bytes()
    (mnt / "filler").unlink()
    assert rec.flush().moved == 1
    assert ids_on(mnt) == [r.id]
    assert next(mnt.rglob(f"{r.id}.png")).read_bytes() == spooled


def test_a_line_the_disk_takes_only_part_of_is_cut_back(small_tmpfs):
    from device.core.durable import append_line

    path = small_tmpfs / "counts.csv"
    path.write_text("h\n" + "x" * 4083 + "\n")  # 4086 bytes: 10 left in its page
    subprocess.run(["dd", "if=/dev/zero", f"of={small_tmpfs}/filler", "bs=4k"], capture_output=True)
    before = path.read_bytes()
    with pytest.raises(OSError):
        append_line(path, "y" * 100)
    assert path.read_bytes() == before
    (small_tmpfs / "filler").unlink()
    append_line(path, "z" * 100)
    assert path.read_text().splitlines()[-1] == "z" * 100
    assert path.read_bytes() == before + b"z" * 100 + b"\n"


def test_read_only_stick_is_not_written(tmp_path, stick):
    mnt, plug, pull = stick
    sh("mount", "-o", "remount,ro", str(mnt))
    rec = Recorder(mnt, tmp_path / "spool", "b1")
    assert "read-only" in rec.state().reason
    assert write(rec, 1).stored == "spool"


def test_sigkill_at_random_moments_loses_no_acknowledged_record(tmp_path, stick, spot_model):
    mnt, plug, pull = stick
    exe = Path(sys.executable).with_name("scopecount")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    acked: list[str] = []
    rnd = random.Random(4)
    for _ in range(20):
        proc = subprocess.Popen(
            [
                str(exe),
                "run",
                "--sim",
                "--headless",
                "--storage",
                str(mnt),
                "--spool",
                str(tmp_path / "spool"),
                "--model",
                str(spot_model),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        deadline = time.monotonic() + rnd.uniform(0.2, 1.5)
        os.set_blocking(proc.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(rnd.uniform(0.005, 0.08))
            buf += proc.stdout.read() or b""
        proc.kill()
        proc.wait()
        buf += proc.stdout.read() or b""
        for line in buf.decode().splitlines():
            ev = json.loads(line)
            if ev["event"] == "recorded":
                acked.append(ev["id"])
    # A record is on the stick, or in the spool if the stick filled up; nowhere twice.
    ids = ids_on(mnt) + ids_on(tmp_path / "spool")
    assert len(acked) > 5
    assert len(ids) == len(set(ids)), "a record appears twice"
    assert set(acked) <= set(ids), "an acknowledged record is missing"
    for p in mnt.glob("scopecount/*/records.jsonl"):
        assert all(json.loads(x) for x in p.read_text().splitlines())
    on_stick = len(ids_on(mnt))
    print(
        f"kills 20, acknowledged {len(acked)}, written {len(ids)} ({on_stick} on the stick), "
        f"lost {len(set(acked) - set(ids))}, duplicated {len(ids) - len(set(ids))}"
    )

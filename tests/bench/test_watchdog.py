"""The watchdog follows the worker: pings while it is alive and back at its queue, none when it
hangs or dies; the TUI and headless runs both ping; caught exceptions reach the journal."""

import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from device.bench.sdnotify import ping_while_healthy, watchdog_s
from device.core.logsetup import JournalHandler, journal_fields
from tests.conftest import REPO, local_storage
from tests.support.benchfakes import make_rig


def test_a_hung_capture_makes_the_bench_unhealthy_until_it_returns(tmp_path):
    rig = make_rig(tmp_path, delay_ms=1500)
    try:
        assert rig.bench.healthy(stuck_s=0.5)
        rig.bench.press("test")
        time.sleep(0.9)  # the capture is still in the camera
        assert not rig.bench.healthy(stuck_s=0.5)
        rig.events.wait("recorded", timeout=20)
        time.sleep(0.2)
        assert rig.bench.healthy(stuck_s=0.5)
    finally:
        rig.close()
    assert not rig.bench.healthy(stuck_s=0.5)  # a dead worker is never healthy


def test_pings_stop_while_unhealthy_and_resume():
    states = iter([True, True, False, False, True])
    sent: list[str] = []
    stop = threading.Event()

    def healthy() -> bool:
        try:
            return next(states)
        except StopIteration:
            stop.set()
            return False

    ping_while_healthy(healthy, sent.append, stop, every_s=0.01)
    assert sent == ["WATCHDOG=1"] * 3


def test_watchdog_interval_from_systemd_environment():
    assert watchdog_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_s({}) is None


def _datagram_server(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(30)
    return s


def test_headless_run_says_ready_and_pings_the_watchdog(tmp_path, spot_model):
    sock = _datagram_server(tmp_path / "notify")
    env = dict(
        os.environ,
        NOTIFY_SOCKET=str(tmp_path / "notify"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    exe = Path(sys.executable).with_name("scopecount")
    args = ["run", "--sim", "--headless", *local_storage(tmp_path), "--model", str(spot_model)]
    proc = subprocess.Popen([str(exe), *args], cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    try:
        got = [sock.recv(4096).decode() for _ in range(2)]
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        sock.close()
    assert got == ["READY=1", "WATCHDOG=1"]


def test_a_caught_exception_reaches_the_journal_with_its_traceback(tmp_path):
    sock = _datagram_server(tmp_path / "journal")
    handler = JournalHandler(str(tmp_path / "journal"))
    log = logging.getLogger("scopecount-test")
    log.addHandler(handler)
    try:
        try:
            raise OSError("stick gone")
        except OSError:
            log.exception("could not record")
        data = sock.recv(65536)
    finally:
        log.removeHandler(handler)
        handler.close()
        sock.close()
    # The message holds a newline, so it travels as MESSAGE\n<length><bytes>\n.
    start = data.index(b"MESSAGE\n") + len(b"MESSAGE\n")
    (n,) = struct.unpack("<Q", data[start : start + 8])
    message = data[start + 8 : start + 8 + n].decode()
    assert message.startswith("could not record\nTraceback")
    assert "OSError: stick gone" in message
    assert b"PRIORITY=3\n" in data and b"SYSLOG_IDENTIFIER=scopecount\n" in data


def test_journal_fields_single_line_plain():
    assert journal_fields({"A": "b"}) == b"A=b\n"


def test_the_bench_logs_a_failed_capture_with_its_traceback(tmp_path, caplog):
    rig = make_rig(tmp_path)
    try:
        rig.camera.unplug()
        with caplog.at_level(logging.WARNING, logger="device.bench.loop"):
            rig.bench.press("test")
            rig.events.wait("error")
    finally:
        rig.close()
    (rec,) = [r for r in caplog.records if r.name == "device.bench.loop"]
    assert rec.exc_info and "replay camera unplugged" in str(rec.exc_info[1])


def test_a_long_flush_to_a_slow_stick_leaves_the_worker_alive_and_presses_served(
    tmp_path, monkeypatch
):
    """Defect: the whole spool flush ran inside one housekeeping call; on a cheap FAT stick (~6
    fsyncs a record) a morning's spool outlasts the watchdog and systemd kills the bench. Now
    the flush goes in slices: the worker stays healthy and a press in the middle is served."""
    from device.records.dayfolder import DayFolder
    from device.records.recorder import Recorder
    from tests.records.test_records import write

    spooled = Recorder(tmp_path / "nostick", tmp_path / "spool", "testbench", removable=False)
    for i in range(40):
        write(spooled, i)
    slow = DayFolder.append_many

    def slow_append(self, entries):  # the stick's fsyncs: 0.1 s a record, 4 s in all
        time.sleep(0.1 * len(entries))
        return slow(self, entries)

    monkeypatch.setattr(DayFolder, "append_many", slow_append)
    rig = make_rig(tmp_path, start=False)
    rig.bench.flush_slice_s = 0.5
    rig.bench.start()
    try:
        worst = 0.0
        deadline = time.monotonic() + 60
        pressed = None
        while time.monotonic() < deadline:
            worst = max(worst, time.monotonic() - rig.bench._beat)
            on_stick = sum(1 for r in rig.records() if r.get("flushed_from_spool"))
            if pressed is None and on_stick >= 5:
                pressed = time.monotonic()
                rig.bench.press("test")
            if rig.events.of("recorded") and on_stick >= 40:
                break
            time.sleep(0.02)
        recorded = rig.events.wait("recorded", timeout=1)
        assert pressed is not None
        assert worst < 1.5, f"worker away from its queue {worst:.1f} s during the flush"
        assert rig.bench.healthy(stuck_s=1.5)
        flushed = [r for r in rig.records() if r.get("flushed_from_spool")]
        assert len(flushed) == 40, "every spooled record reaches the stick"
        assert recorded[0].data["id"] in {r["id"] for r in rig.records()}
    finally:
        rig.close()


def test_a_camera_that_stays_dead_stops_the_watchdog_one_that_returns_does_not(tmp_path):
    rig = make_rig(tmp_path)
    rig.bench.camera_dead_after = 3
    try:
        rig.camera.unplug()
        for n in range(1, 4):
            rig.bench.press("test")
            rig.events.wait("error", n=n, timeout=10)
            time.sleep(0.05)
            assert rig.bench.healthy() is (n < 3), f"after {n} failed captures"
        rig.camera.plug()
        rig.bench.press("test")
        rig.events.wait("recorded", timeout=10)
        assert rig.bench.healthy()
    finally:
        rig.close()

"""Is the bench's clock right? A Pi 4 and a Zero 2 W have no real-time clock: offline, they boot
at the last saved time (fake-hwclock, timesyncd's clock file), so a record would carry
yesterday's date without a word. The clock is trusted when one of these says so:

- a time server: systemd-timesyncd's /run/systemd/timesync/synchronized, or timedated's
  NTPSynchronized (the kernel's NTP state, which chrony and ntpd set too). The bench asks
  timedated rather than calling adjtimex itself: the service's seccomp filter (ProtectClock=yes,
  ~@clock) kills a process that makes that call, even to read;
- a battery-backed real-time clock set the system clock at boot (/sys/class/rtc/rtcN/hctosys)
  and still agrees with it;
- someone set it by hand since boot (`sudo /opt/scopecount/venv/bin/scopecount clock set TIME`
  leaves a mark in /run, which is emptied at every boot).

Until then every record is flagged `clock`. The service itself cannot set the time
(ProtectClock=yes): `scopecount clock set` is a separate, root-only path.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from device.core.errors import BadInput

MARK = Path("/run/scopecount-clock-set")  # in root's /run: the service cannot forge it
RTC = Path("/sys/class/rtc")
TIMESYNC = Path("/run/systemd/timesync/synchronized")
EARLIEST = datetime(2024, 1, 1, tzinfo=UTC)  # a time typed outside these is a typo
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ClockState:
    good: bool
    source: str  # what vouches for it: ntp, rtc, set by hand, or why nothing does


def ntp_synchronised(timesync: Path = TIMESYNC) -> bool:
    if timesync.exists():
        return True
    try:
        out = subprocess.run(
            ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=3,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "yes"


def rtc_set_the_clock(rtc: Path = RTC, now: Callable[[], float] = time.time) -> bool:
    """An RTC set the clock at boot (hctosys) and still agrees with it. A Pi 5 whose battery is
    flat restores a reset time at boot, and systemd then moves the clock forward to its last
    saved time: hctosys still says 1, but the RTC and the clock disagree, so it is not trusted.
    """
    for d in rtc.glob("rtc*"):
        try:
            if (d / "hctosys").read_text().strip() != "1":
                continue
            rtc_s = int((d / "since_epoch").read_text().strip())
        except (OSError, ValueError):
            continue
        if rtc_s >= EARLIEST.timestamp() and abs(rtc_s - now()) < 120:
            return True
    return False


def clock_state(
    synced: Callable[[], bool] = ntp_synchronised,
    rtc: Callable[[], bool] = rtc_set_the_clock,
    mark: Path = MARK,
) -> ClockState:
    if synced():
        return ClockState(True, "ntp")
    if rtc():
        return ClockState(True, "rtc")
    if mark.exists():
        return ClockState(True, "set by hand since boot")
    return ClockState(False, "no time server, no real-time clock, not set since boot")


def parse_time(text: str, where: str = "TIME") -> datetime:
    """An ISO 8601 time with its zone (2026-12-06T09:30:00+01:00, or Z for UTC)."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{where} {text[:40]!r}: expected an ISO time with its zone, e.g. "
            "2026-12-06T09:30:00+01:00 or 2026-12-06T08:30:00Z"
        ) from None
    if t.tzinfo is None:
        raise BadInput(f"{where} {text[:40]!r}: give the zone (+01:00, or Z for UTC)")
    if not EARLIEST <= t <= LATEST:
        raise BadInput(
            f"{where} {text[:40]!r}: not between {EARLIEST:%Y} and {LATEST:%Y}: not today's date"
        )
    return t


def set_clock(t: datetime, mark: Path = MARK) -> None:
    """Set the system clock (root: CAP_SYS_TIME) and leave the mark for this boot."""
    try:
        time.clock_settime(time.CLOCK_REALTIME, t.timestamp())
    except PermissionError:
        raise BadInput(
            "setting the clock needs root: sudo /opt/scopecount/venv/bin/scopecount clock set TIME"
        ) from None
    except (OSError, OverflowError) as e:
        raise BadInput(f"the clock refused {t.isoformat()} ({e})") from None
    mark.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, f"{t.isoformat()}\n".encode())
    finally:
        os.close(fd)

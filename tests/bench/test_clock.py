"""The bench's clock: trusted from NTP, a real-time clock or a hand setting; otherwise every
record says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.bench.clock import clock_state, parse_time, rtc_set_the_clock
from device.core.errors import BadInput
from tests.support.benchfakes import make_rig


def test_what_vouches_for_the_clock(tmp_path):
    mark = tmp_path / "mark"
    assert clock_state(lambda: True, lambda: False, mark).source == "ntp"
    assert clock_state(lambda: False, lambda: True, mark).source == "rtc"
    st = clock_state(lambda: False, lambda: False, mark)
    assert not st.good and "no time server" in st.source
    mark.write_text("2026-12-06T09:30:00+00:00\n")
    assert clock_state(lambda: False, lambda: False, mark).good


def test_an_rtc_counts_only_when_it_set_the_clock_and_still_agrees(tmp_path: Path):
    rtc = tmp_path / "rtc"
    now = 1_796_000_000.0  # late 2026
    for name, hctosys, since in [("rtc0", "0", now), ("rtc1", "1", 86_400)]:
        (rtc / name).mkdir(parents=True)
        (rtc / name / "hctosys").write_text(f"{hctosys}\n")
        (rtc / name / "since_epoch").write_text(f"{int(since)}\n")
    # rtc0 did not set the clock; rtc1 did, but from a flat battery (a reset RTC at 1970 + 1 day,
    # the clock since moved forward by systemd): neither vouches for it
    assert not rtc_set_the_clock(rtc, lambda: now)
    (rtc / "rtc1" / "since_epoch").write_text(f"{int(now) - 3}\n")  # kept time: it agrees
    assert rtc_set_the_clock(rtc, lambda: now)
    assert not rtc_set_the_clock(rtc, lambda: now + 3600)  # an hour apart: not trusted
    assert not rtc_set_the_clock(tmp_path / "none")  # a Pi 4: no RTC at all


def test_a_typed_time_needs_its_zone_and_a_plausible_date():
    assert parse_time("2026-12-06T08:30:00Z").isoformat() == "2026-12-06T08:30:00+00:00"
    with pytest.raises(BadInput, match="give the zone"):
        parse_time("2026-12-06T08:30:00")
    with pytest.raises(BadInput, match="expected an ISO time"):
        parse_time("yesterday")
    with pytest.raises(BadInput, match="not today's date"):
        parse_time("1970-01-01T00:00:00Z")
    with pytest.raises(BadInput, match="not today's date"):
        parse_time("9999-12-31T23:59:59+00:00")


def test_records_are_flagged_until_the_clock_is_known(tmp_path):
    good = [False]
    rig = make_rig(tmp_path, start=False)
    rig.bench.clock_ok = lambda: good[0]
    rig.bench.start()
    try:
        rig.bench.press("test")
        (first,) = rig.events.wait("recorded", timeout=10)
        assert "clock" in first.data["flags"]
        assert any("clock" in w for w in first.data["why"])
        good[0] = True
        rig.bench.press("test")
        second = rig.events.wait("recorded", n=2, timeout=10)[1]
        assert "clock" not in second.data["flags"]
        lines = rig.records()
        assert "clock" in lines[0]["flags"] and "clock" not in lines[1]["flags"]
    finally:
        rig.close()


def test_timesyncd_says_so_in_a_file(tmp_path, monkeypatch):
    from device.bench import clock

    flag = tmp_path / "synchronized"
    monkeypatch.setenv("PATH", str(tmp_path))  # no timedatectl: the file alone decides
    assert not clock.ntp_synchronised(flag)
    flag.touch()
    assert clock.ntp_synchronised(flag)

"""The progress bar on long work: how far, how long so far, and how long still to go."""

import io

from device.core.progress import Progress, fmt_seconds, time_left


def test_time_left_follows_the_pace_so_far():
    assert time_left(30.0, 0.25) == 90.0
    assert time_left(0.5, 0.5) is None  # no pace yet
    assert time_left(30.0, 0.01) is None
    assert time_left(30.0, 1.0) == 0.0


def test_seconds_read_as_minutes_past_a_minute():
    assert fmt_seconds(42) == "42s" and fmt_seconds(125) == "2m05s"


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_bar_says_how_long_is_left(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("device.core.progress.time.monotonic", clock)
    out = io.StringIO()
    bar = Progress("train", out)
    clock.t = 60.0
    bar.update(0.5, "step 300")
    clock.t = 120.0
    bar.done()
    first, last = out.getvalue().splitlines()
    assert " 50.0% 1m00s, ~1m00s left step 300" in first
    assert "100.0% 2m00s" in last and "left" not in last

"""`scopecount clock`: is the bench's clock right, and set it where no time server answers."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from device.bench.clock import clock_state, parse_time, set_clock
from device.cli.options import Subcommands


def register(sub: Subcommands) -> None:
    c = sub.add_parser(
        "clock",
        help="is the clock right; set it on an offline bench",
        description=(
            "A Pi without a time server or a battery-backed clock boots at the last saved time: "
            "until the clock is known right, every record is flagged 'clock'. 'status' says "
            "what vouches for the clock; 'set TIME' (root) sets it, e.g. from a laptop: "
            'ssh bench1 sudo /opt/scopecount/venv/bin/scopecount clock set "$(date -Is)"'
        ),
    )
    c.add_argument("action", choices=["status", "set"])
    c.add_argument("time", nargs="?", metavar="TIME", help="set: ISO time with its zone")
    c.add_argument("--json", action="store_true", help="status as one JSON object")
    c.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    if a.action == "set":
        if not a.time:
            print("scopecount clock set: give the time, e.g. 2026-12-06T09:30:00+01:00")
            return 2
        set_clock(parse_time(a.time))
    st = clock_state()
    now = datetime.now(UTC).astimezone()
    if a.json:
        print(json.dumps({"good": st.good, "source": st.source, "now": now.isoformat()}))
    else:
        word = "right" if st.good else "NOT known right (records are flagged 'clock')"
        print(f"clock {word}: {now:%Y-%m-%d %H:%M:%S %z} ({st.source})")
    return 0

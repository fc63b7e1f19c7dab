"""The headless consumer (for systemd): one JSON object per line on stdout for every event."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import TextIO

from device.bench.events import BenchEvent
from device.bench.loop import Bench
from device.bench.sdnotify import ping_while_healthy


class JsonLinesPrinter:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, ev: BenchEvent) -> None:
        line = json.dumps(ev.as_json(), separators=(",", ":"))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def run_headless(bench: Bench, watchdog: object | None = None, stuck_s: float = 15.0) -> int:
    """Run until SIGTERM or SIGINT; SIGUSR1 is a button press, SIGUSR2 a long hold (voids the
    last record: `systemctl kill -s USR2 scopecount` from a shell). Exit code 0 on a clean stop.

    The watchdog is pinged only while the bench's worker is alive and back at its queue within
    stuck_s (a capture or a count longer than that is a hang).
    """
    stop = threading.Event()
    bench.subscribe(JsonLinesPrinter())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: bench.press("signal"))
    signal.signal(signal.SIGUSR2, lambda *_: bench.hold())
    bench.start()
    notify = getattr(watchdog, "notify", None)
    if callable(notify):
        notify("READY=1")
    ping_while_healthy(
        lambda: bench.healthy(stuck_s), notify if callable(notify) else (lambda _m: None), stop
    )
    bench.stop()
    return 0

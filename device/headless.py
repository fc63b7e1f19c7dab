"""The headless consumer (for systemd): one JSON object per line on stdout for every event."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import TextIO

from device.bench import Bench, BenchEvent


class JsonLinesPrinter:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, ev: BenchEvent) -> None:
        line = json.dumps(ev.as_json(), separators=(",", ":"))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def run_headless(bench: Bench, watchdog: object | None = None) -> int:
    """Run until SIGTERM or SIGINT; SIGUSR1 is a button press. Exit code 0 on a clean stop."""
    stop = threading.Event()
    bench.subscribe(JsonLinesPrinter())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: bench.press("signal"))
    bench.start()
    notify = getattr(watchdog, "notify", None)
    if callable(notify):
        notify("READY=1")
    while not stop.wait(1.0):
        if callable(notify):
            notify("WATCHDOG=1")
    bench.stop()
    return 0

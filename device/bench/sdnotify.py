"""systemd notify (READY=1, WATCHDOG=1) over $NOTIFY_SOCKET, without extra packages.

The watchdog is pinged only while the bench's worker is alive and not stuck: a hung capture must
let systemd restart the service, not leave it "healthy" while every press is refused.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self) -> None:
        addr = os.environ.get("NOTIFY_SOCKET", "")
        self.addr = "\0" + addr[1:] if addr.startswith("@") else addr

    def notify(self, message: str) -> None:
        if not self.addr:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            try:
                s.sendto(message.encode(), self.addr)
            except OSError:
                pass


def watchdog_s(environ: dict[str, str] | None = None) -> float | None:
    """systemd's WatchdogSec= for this process (WATCHDOG_USEC), or None when there is none."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None


def ping_while_healthy(
    healthy: Callable[[], bool],
    notify: Callable[[str], None],
    stop: threading.Event,
    every_s: float = 1.0,
) -> None:
    """Send WATCHDOG=1 every every_s while healthy() holds, until stop is set.

    Once unhealthy, no more pings: systemd kills and restarts the service after WatchdogSec.
    """
    warned = False
    while not stop.wait(every_s):
        if healthy():
            notify("WATCHDOG=1")
            warned = False
        elif not warned:
            log.error("bench worker dead or stuck: watchdog pings stop (systemd restarts us)")
            warned = True


def start_pinger(
    healthy: Callable[[], bool], notifier: Notifier, stop: threading.Event
) -> threading.Thread:
    """The same pings from a background thread (the TUI's main thread belongs to Textual)."""
    t = threading.Thread(
        target=ping_while_healthy,
        args=(healthy, notifier.notify, stop),
        name="watchdog",
        daemon=True,
    )
    t.start()
    return t

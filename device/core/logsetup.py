"""Where the bench's log goes: the journal keeps a caught exception's traceback.

Headless, stderr is the journal (StandardError=journal). The TUI draws on its terminal, so its
log goes to the journal's own socket instead (native protocol, no extra package); where there
is no journal (a laptop, `--sim` in a terminal) the TUI logs nothing on screen.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
from pathlib import Path

JOURNAL_SOCKET = "/run/systemd/journal/socket"
PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


def journal_fields(fields: dict[str, str]) -> bytes:
    """One journal datagram: KEY=value lines, or KEY, a length and the bytes when multi-line."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    def __init__(self, path: str = JOURNAL_SOCKET, identifier: str = "scopecount") -> None:
        super().__init__()
        self.path = path
        self.identifier = identifier
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
            payload = journal_fields(
                {
                    "MESSAGE": msg,
                    "PRIORITY": str(PRIORITY.get(record.levelname, 6)),
                    "SYSLOG_IDENTIFIER": self.identifier,
                    "CODE_FUNC": record.funcName,
                    "LOGGER": record.name,
                }
            )
            self.sock.sendto(payload, self.path)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def setup_logging(tui: bool, journal: str = JOURNAL_SOCKET) -> logging.Handler:
    """Log INFO and up with tracebacks; returns the handler it installed."""
    handler: logging.Handler
    if not tui:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    elif Path(journal).exists():
        handler = JournalHandler(journal)
    else:
        handler = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler

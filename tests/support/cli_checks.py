"""Checks on what a command printed: a refusal is one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import subprocess


def one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], lines[0]

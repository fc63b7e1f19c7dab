"""`scopecount deploy [USER@]HOST FILE`: stream a model to a bench through the system's ssh.

The bench's key for this is restricted to `scopecount model receive` (see `model
authorize-key`), so the command sent here is only a request; the bench decides what runs.
Host keys are checked as ssh always does; nothing here turns that off.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from device.core.errors import BadInput
from device.core.text import printable, printable_path
from device.models.signing import read_signature_beside


def ssh_command(
    host: str, port: int | None, identity: str | None, options: list[str], sig: str | None
) -> list[str]:
    cmd = ["ssh", "-o", "BatchMode=yes"]
    for opt in options:
        cmd += ["-o", opt]
    if port:
        cmd += ["-p", str(port)]
    if identity:
        cmd += ["-i", identity]
    words = ["scopecount", "model", "receive"] + (["--sig", sig] if sig else [])
    remote = shlex.join(words)  # data stays data even where the remote side runs a shell
    return [*cmd, host, remote]


def deploy(
    host: str,
    file: str,
    port: int | None = None,
    identity: str | None = None,
    options: list[str] | None = None,
) -> int:
    p = Path(file)
    if host.startswith("-") or not host.strip():
        raise BadInput(f"{host!r}: not a host name (a leading '-' would be read as an ssh option)")
    if not p.is_file():
        raise BadInput(f"{printable_path(p)}: no such model file")
    if p.stat().st_size == 0:
        raise BadInput(f"{printable_path(p)}: empty file")
    if port is not None and not 0 < port < 65536:
        raise BadInput(f"--port {port}: not a TCP port")
    if identity and not Path(identity).is_file():
        raise BadInput(f"--identity {printable_path(identity)}: no such key file")
    if shutil.which("ssh") is None:
        raise BadInput("ssh: the OpenSSH client is not installed (apt install openssh-client)")
    sig = read_signature_beside(p)
    cmd = ssh_command(host, port, identity, options or [], sig)
    with open(p, "rb") as f:
        proc = subprocess.run(cmd, stdin=f, capture_output=True, timeout=300)
    answer = (proc.stdout + proc.stderr).decode(errors="replace").strip()
    # the bench's reply is another machine's text: escaped, line by line, before a terminal
    every = answer.splitlines()
    lines = [printable(line, 500) for line in every[:50]]
    lines += [f"({len(every) - 50} more lines)"] if len(every) > 50 else []
    print(f"{printable(host, 200)}: " + ("\n".join(lines) if lines else "(no answer)"))
    if proc.returncode == 0:
        return 0
    return 2 if proc.returncode == 2 else 1

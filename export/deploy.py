"""`scopecount deploy [USER@]HOST FILE`: stream a model to a bench through the system's ssh.

The bench's key for this is restricted to `scopecount model receive` (see `model
authorize-key`), so the command sent here is only a request; the bench decides what runs.
Host keys are checked as ssh always does; nothing here turns that off.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from device.errors import BadInput

# An ed25519 signature is 64 bytes: 88 base64 characters. Anything else in a .sig is refused
# before ssh starts, since the remote side may parse the request with a shell.
_B64 = re.compile(r"[A-Za-z0-9+/]{4,512}={0,2}")


def read_signature(path: Path) -> str | None:
    """The base64 signature beside a model, or None; BadInput for anything else."""
    if not path.exists():
        return None
    try:
        raw = path.read_bytes()[:1025]
    except OSError as e:
        raise BadInput(f"{path}: cannot read the signature ({e.strerror})") from None
    text = raw.decode("ascii", errors="replace").strip()
    if len(raw) > 1024 or not _B64.fullmatch(text):
        raise BadInput(f"{path}: not a base64 signature (refused; nothing was sent)")
    try:
        base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise BadInput(f"{path}: not a base64 signature (refused; nothing was sent)") from None
    return text


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
        raise BadInput(f"{p}: no such model file")
    if p.stat().st_size == 0:
        raise BadInput(f"{p}: empty file")
    if port is not None and not 0 < port < 65536:
        raise BadInput(f"--port {port}: not a TCP port")
    if identity and not Path(identity).is_file():
        raise BadInput(f"--identity {identity}: no such key file")
    if shutil.which("ssh") is None:
        raise BadInput("ssh: the OpenSSH client is not installed (apt install openssh-client)")
    sig_path = p.with_name(p.name + ".sig")
    sig = read_signature(sig_path)
    cmd = ssh_command(host, port, identity, options or [], sig)
    with open(p, "rb") as f:
        proc = subprocess.run(cmd, stdin=f, capture_output=True, timeout=300)
    answer = (proc.stdout + proc.stderr).decode(errors="replace").strip()
    print(f"{host}: {answer}" if answer else f"{host}: (no answer)")
    if proc.returncode == 0:
        return 0
    return 2 if proc.returncode == 2 else 1

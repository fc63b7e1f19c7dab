"""A real OpenSSH server on 127.0.0.1 for the deploy tests: temporary host key, high port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    proc: subprocess.Popen
    port: int
    root: Path
    known_hosts: Path
    authorized_keys: Path

    def client_options(self) -> list[str]:
        return [f"UserKnownHostsFile={self.known_hosts}", "StrictHostKeyChecking=yes"]

    def ssh(self, key: Path, remote: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
        cmd = ["ssh", "-o", "BatchMode=yes", "-p", str(self.port), "-i", str(key)]
        for o in self.client_options():
            cmd += ["-o", o]
        return subprocess.run(
            [*cmd, "root@127.0.0.1", remote], input=stdin, capture_output=True, timeout=60
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def start_sshd(root: Path) -> Sshd:
    root.mkdir(parents=True, exist_ok=True)
    host_key = keygen(root / "host_ed25519")
    port = free_port()
    auth = root / "authorized_keys"
    auth.touch()
    os.chmod(auth, 0o600)
    cfg = root / "sshd_config"
    cfg.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {root}/sshd.pid\n"
        f"AuthorizedKeysFile {auth}\nStrictModes no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nUsePAM no\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stderr=subprocess.PIPE)
    pub = (root / "host_ed25519.pub").read_text().split()
    known = root / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    return Sshd(proc, port, root, known, auth)

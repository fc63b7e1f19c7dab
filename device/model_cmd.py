"""`scopecount model ...`: install, receive, list, activate, rollback, sign, authorize-key."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from device import config
from device.errors import BadInput
from device.store import Limits, ModelStore

DEFAULT_STORE = "/var/lib/scopecount/models"


def _store(a: argparse.Namespace) -> tuple[ModelStore, list]:
    cfg = config.load(a.config)
    m = cfg.model
    limits = Limits(max_bytes=m.max_mb * 1024 * 1024, smoke_budget_s=m.smoke_budget_s, keep=m.keep)
    trusted = []
    if m.trusted_keys:
        from device.signing import parse_public_key

        trusted = [parse_public_key(k, "[model] trusted_keys") for k in m.trusted_keys]
    return ModelStore(a.store or m.store, limits), trusted


def _signature(a: argparse.Namespace) -> str | None:
    """From --sig, or from the command the client asked for when a forced command runs us."""
    if getattr(a, "sig", None):
        return a.sig
    words = shlex.split(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
    if "--sig" in words and words.index("--sig") + 1 < len(words):
        return words[words.index("--sig") + 1]
    return None


def _read_stdin(limit: int) -> bytes:
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise BadInput(f"refused: more than the {limit} byte limit on standard input")
    return data


def model_cmd(a: argparse.Namespace) -> int:
    if a.action == "sign":
        return _sign(a)
    if a.action == "authorize-key":
        return _authorize(a)
    store, trusted = _store(a)
    if a.action in ("install", "receive"):
        if a.action == "install":
            if not a.target:
                raise BadInput("model install: FILE is required")
            p = Path(a.target)
            if not p.is_file():
                raise BadInput(f"{p}: no such model file")
            if p.stat().st_size > store.limits.max_bytes:
                raise BadInput(f"refused {p}: {p.stat().st_size} bytes is over the limit")
            data, where = p.read_bytes(), str(p)
            sig = a.sig or (
                p.with_name(p.name + ".sig").read_text().strip()
                if p.with_name(p.name + ".sig").exists()
                else None
            )
        else:
            data, where, sig = _read_stdin(store.limits.max_bytes), "standard input", _signature(a)
        info = store.install(data, where, sig, trusted)
        print(f"installed {info['name']} {info['sha256'][:12]} ({info['size']} bytes): active")
        return 0
    if a.action == "list":
        listing = store.list()
        if a.json:
            print(json.dumps(listing))
        else:
            for m in listing["models"]:
                mark = "*" if m["active"] else " "
                print(
                    f"{mark} {m['sha256'][:12]}  {m['name']:<28} {','.join(m['classes']):<20} "
                    f"{m['size'] / 1024:7.0f} KB  {m['installed']}"
                )
            if not listing["models"]:
                print(f"no models in {store.root}")
        return 0
    if a.action == "activate":
        if not a.target:
            raise BadInput("model activate: NAME_OR_SHA is required")
        info = store.activate(a.target)
        print(f"active: {info['name']} {info['sha256'][:12]}")
        return 0
    if a.action == "rollback":
        info = store.rollback()
        print(f"rolled back: active {info['name']} {info['sha256'][:12]}")
        return 0
    raise BadInput(f"model {a.action}: unknown action")


def _sign(a: argparse.Namespace) -> int:
    from device.signing import load_private_key, sign

    if not a.target or not Path(a.target).is_file():
        raise BadInput(f"model sign: {a.target}: no such model file")
    if not a.key:
        raise BadInput("model sign: --key KEY (an ed25519 private key) is required")
    sig = sign(Path(a.target).read_bytes(), load_private_key(a.key))
    out = Path(a.target + ".sig")
    out.write_text(sig + "\n")
    print(f"wrote {out} (deploy sends it with the model)")
    return 0


def _authorize(a: argparse.Namespace) -> int:
    if not a.target:
        raise BadInput("model authorize-key: PUBKEY_FILE is required")
    p = Path(a.target)
    try:
        key = p.read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        raise BadInput(f"{p}: cannot read a public key from it") from None
    if not key.startswith(("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")):
        raise BadInput(f"{p}: not an OpenSSH public key")
    exe = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).exists() else Path("scopecount")
    cmd = f"{exe} model receive --store {shlex.quote(a.store or DEFAULT_STORE)}"
    if a.config:
        cmd += f" --config {shlex.quote(a.config)}"
    line = f'restrict,command="{cmd}" {key}'
    if a.install:
        auth = Path(a.authorized_keys or Path.home() / ".ssh" / "authorized_keys")
        auth.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        existing = auth.read_text() if auth.exists() else ""
        if line not in existing:
            with open(auth, "a") as f:
                f.write(("" if existing.endswith("\n") or not existing else "\n") + line + "\n")
            os.chmod(auth, 0o600)
        print(f"added to {auth}: {line}")
    else:
        print(line)
    return 0

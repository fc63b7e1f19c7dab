"""Optional trust: ed25519 detached signatures over a model file's bytes."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from device.errors import BadInput


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise BadInput(f"--key {p}: cannot read ({e.strerror})") from None
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise BadInput(f"--key {p}: not an unencrypted private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"--key {p}: not an ed25519 key")
    return key


def parse_public_key(line: str, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_ssh_public_key(line.strip().encode())
    except (ValueError, TypeError, IndexError):
        raise BadInput(f"{where}: not an OpenSSH public key line: {line[:40]!r}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput(f"{where}: only ssh-ed25519 keys are accepted")
    return key


def sign(data: bytes, key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.sign(data)).decode()


def verify(data: bytes, signature: str | None, trusted: list[Ed25519PublicKey]) -> None:
    """Raises BadInput unless one trusted key signed exactly these bytes."""
    if not signature:
        raise BadInput("refused: unsigned model (this bench only accepts signed models)")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raise BadInput("refused: signature is not base64") from None
    for key in trusted:
        try:
            key.verify(raw, data)
            return
        except InvalidSignature:
            continue
    raise BadInput("refused: signature does not match any trusted key")

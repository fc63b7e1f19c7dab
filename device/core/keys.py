"""The public keys a bench trusts: one OpenSSH ssh-ed25519 line each (from the config or a file).

Parsed here, below the config and the store, so that both check keys the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from device.core.errors import BadInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def parse_public_key(line: str, where: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_ssh_public_key(line.strip().encode())
    except (ValueError, TypeError, IndexError):
        raise BadInput(f"{where}: not an OpenSSH public key line: {line[:40]!r}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput(f"{where}: only ssh-ed25519 keys are accepted")
    return key


def parse_keys(lines: list[str], where: str = "[model] trusted_keys") -> list[Ed25519PublicKey]:
    """Every trusted key of a config, each refusal naming its place (where[i])."""
    return [parse_public_key(line, f"{where}[{i}]") for i, line in enumerate(lines)]

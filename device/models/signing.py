"""Optional trust: ed25519 detached signatures over a model file's bytes.

A signature is base64 text: the 64-byte ed25519 signature over the file's bytes, followed by the
32-byte sha256 of the file it was made for. The sha256 is not part of the trust (only the
signature is checked against the trusted keys); it lets a refusal say "this signature was made
for another file" (a stale .sig left beside a retrained model) instead of blaming the key.
Signatures of 64 bytes alone (written before the sha256 was added) are still accepted.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from device.core.errors import BadInput
from device.measuring.modelfile import sig_path

if TYPE_CHECKING:  # cryptography is imported where it is used: `model list` never needs it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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


SIG_BYTES = 64
MAX_SIGNATURE_CHARS = 200  # base64 of 96 bytes is 128 characters


# One base64 word: anything else in a .sig is refused before it reaches ssh (the remote side may
# parse the request with a shell) or the store.
_B64 = re.compile(rf"[A-Za-z0-9+/]{{4,{MAX_SIGNATURE_CHARS}}}={{0,2}}")


def read_signature_beside(model: str | Path) -> str | None:
    """The signature `model sign` wrote beside a model file, or None where there is none.

    Read bounded, only from a regular file and never through a link (`model sign` writes a
    plain file; a planted link could send any readable one-word file to a bench, and a FIFO
    would hang `install` or `deploy`); what is not one base64 signature is refused with
    BadInput, naming the file."""
    from device.core.text import printable_path
    from device.core.untrusted_file import FileTooLarge, NotRegularFile, read_regular

    p = sig_path(model)
    shown = printable_path(p)
    try:
        raw = read_regular(p, MAX_SIGNATURE_CHARS + 1)  # a newline after the longest
    except FileNotFoundError:
        return None
    except NotRegularFile:  # a folder, a FIFO, a device
        raise BadInput(f"{shown}: not a regular file (refused)") from None
    except FileTooLarge:
        raise BadInput(
            f"{shown}: longer than a signature ({MAX_SIGNATURE_CHARS} characters; refused)"
        ) from None
    except OSError as e:
        why = "a link (refused)" if p.is_symlink() else f"cannot read the signature ({e.strerror})"
        raise BadInput(f"{shown}: {why}") from None
    text = raw.decode("ascii", errors="replace").strip()
    try:
        if not _B64.fullmatch(text):
            raise ValueError(text)
        base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error is one
        raise BadInput(f"{shown}: not a base64 signature (refused)") from None
    return text


def sign(data: bytes, key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.sign(data) + hashlib.sha256(data).digest()).decode()


def verify(
    data: bytes, signature: str | None, trusted: list[Ed25519PublicKey], where: str = "model"
) -> None:
    """Raises BadInput unless one trusted key signed exactly these bytes.

    Runs on the bytes alone, before anything parses or runs the model.
    """
    if not signature:
        raise BadInput(f"refused {where}: unsigned model (this bench only accepts signed models)")
    if len(signature) > MAX_SIGNATURE_CHARS:
        raise BadInput(f"refused {where}: signature is {len(signature)} characters long")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raise BadInput(f"refused {where}: signature is not base64") from None
    if len(raw) not in (SIG_BYTES, SIG_BYTES + 32):
        raise BadInput(f"refused {where}: signature is {len(raw)} bytes, not an ed25519 signature")
    from cryptography.exceptions import InvalidSignature

    sig, made_for = raw[:SIG_BYTES], raw[SIG_BYTES:]
    for key in trusted:
        try:
            key.verify(sig, data)
            return
        except InvalidSignature:
            continue
    sha = hashlib.sha256(data).hexdigest()
    if made_for and made_for.hex() != sha:
        raise BadInput(
            f"refused {where}: the signature was made for another file (sha256 "
            f"{made_for.hex()[:12]}), not this one ({sha[:12]}): sign this file again "
            "(`scopecount model sign`)"
        )
    raise BadInput(f"refused {where}: signature does not match any trusted key")

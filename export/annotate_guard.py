"""Request checks for the annotation server: who may ask, and what a save may hold.

The server listens on 127.0.0.1, but any page the user has open in a browser can send requests
there, and a DNS-rebound name can make them look same-origin. So every API request must carry
the per-run secret (printed in the page's address, sent back by app.js as a header), name this
server in Host, come from this origin (or none), be `application/json` with a sane
Content-Length, and hold a body of exactly the expected shape. Pure functions, each raising
Refused with the HTTP status and a one-line reason.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from device.core.names import CLASS_MAX, problem

TOKEN_HEADER = "X-Scopecount-Token"
MAX_BODY = 4 * 1024 * 1024  # 50 000 points of a few dozen bytes each fit well within this
MAX_POINTS = 50_000  # per image
MAX_CLASSES = 64
MAX_NAME = 64  # characters in a class name
MAX_REVISION = 2**53  # what a browser's number holds exactly
_LENGTH = re.compile(r"\d{1,12}")


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def new_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(sent: str | None, token: str) -> bool:
    return sent is not None and hmac.compare_digest(sent.encode(), token.encode())


def allowed_hosts(port: int) -> set[str]:
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


def check_host(host: str | None, port: int) -> None:
    """DNS rebinding: a page of attacker.example resolved to 127.0.0.1 still says its name."""
    if (host or "").strip().lower() not in allowed_hosts(port):
        raise Refused(403, f"Host {host!r} is not this server (127.0.0.1:{port})")


def check_origin(origin: str | None, port: int) -> None:
    """Browsers send Origin on cross-site requests (and 'null' from file:// pages)."""
    if origin is None:
        return
    if origin.strip().lower() not in {f"http://{h}" for h in allowed_hosts(port)}:
        raise Refused(403, f"Origin {origin!r} is not this page")


def check_token(sent: str | None, token: str) -> None:
    if not same_token(sent, token):
        raise Refused(403, "missing or wrong token: open the address `scopecount annotate` printed")


def body_length(content_type: str | None, length: str | None, limit: int = MAX_BODY) -> int:
    """The number of body bytes to read, after the type and the length are checked."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise Refused(415, f"Content-Type {content_type!r}: only application/json is accepted")
    if length is None:
        raise Refused(411, "Content-Length is required")
    if not _LENGTH.fullmatch(length.strip()):
        raise Refused(400, f"Content-Length {length[:20]!r} is not a non-negative integer")
    n = int(length.strip())
    if n > limit:
        raise Refused(413, f"body of {n} bytes is over the {limit} byte limit")
    return n


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"{text[:20]} is not a finite number")
    return v


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise Refused(400, "JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise Refused(400, f"not valid JSON ({str(e)[:80]})") from None


def check_name(value: object, what: str) -> str:
    """A class name: a short single line of printable text."""
    if not isinstance(value, str):
        raise Refused(400, f"{what} must be a string, got {type(value).__name__}")
    name = value.strip()
    if not name or len(name) > MAX_NAME:
        raise Refused(400, f"{what} {name[:MAX_NAME]!r} must be 1 to {MAX_NAME} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise Refused(400, f"{what} {name[:MAX_NAME]!r} holds control characters")
    why = problem(name, CLASS_MAX)  # the rule every model file is held to
    if why:
        raise Refused(400, f"{what} {name[:MAX_NAME]!r} {why}")
    if name.startswith("'"):
        # CSV cells keep a leading quote only before a formula character: '=x would be read
        # back from classes.csv or points.csv as =x, another class
        raise Refused(400, f"{what} {name[:MAX_NAME]!r} starts with a quote (')")
    return name


def number(value: object, what: str) -> float:
    """A finite JSON number (not a bool, nor an integer too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(400, f"{what} must be a number")
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    if not math.isfinite(v):
        raise Refused(400, f"{what} must be finite")
    return v


@dataclass(frozen=True)
class SaveRequest:
    image: str
    points: list[tuple[float, float, str]]
    revision: int
    done: bool | None
    classes: list[str] | None


def check_body(body: object, fields: set[str]) -> dict:
    """A save's body: a JSON object of these fields only."""
    if not isinstance(body, dict):
        raise Refused(400, "body must be a JSON object")
    unknown = set(body) - fields
    if unknown:
        raise Refused(400, f"unknown field {sorted(unknown)[0]!r}")
    return body


def check_revision(rev: object) -> int:
    """The revision a save was made from: an integer a browser holds exactly."""
    if isinstance(rev, bool) or not isinstance(rev, int) or not 0 <= rev <= MAX_REVISION:
        raise Refused(400, f"revision must be an integer in [0, 2^53], got {str(rev)[:20]}")
    return rev


def check_done(done: object) -> bool | None:
    if done is not None and not isinstance(done, bool):
        raise Refused(400, "done must be true, false or absent")
    return done


def parse_save(body: object) -> SaveRequest:
    """The body of POST /api/points, every field checked; Refused(400) names the first fault."""
    body = check_body(body, {"image", "points", "revision", "done", "classes"})
    image = body.get("image")
    if not isinstance(image, str) or not image or len(image) > 255:
        raise Refused(400, "image must be an image file name")
    rev = check_revision(body.get("revision"))
    done = check_done(body.get("done"))
    classes = body.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or len(classes) > MAX_CLASSES:
            raise Refused(400, f"classes must be a list of at most {MAX_CLASSES} names")
        classes = [check_name(c, f"classes[{i}]") for i, c in enumerate(classes)]
    pts = body.get("points")
    if not isinstance(pts, list):
        raise Refused(400, "points must be a list of [x, y, label]")
    if len(pts) > MAX_POINTS:
        raise Refused(400, f"{len(pts)} points: at most {MAX_POINTS} per image")
    points: list[tuple[float, float, str]] = []
    seen: set[tuple[float, float, str]] = set()
    for i, p in enumerate(pts):
        if not (isinstance(p, list) and len(p) == 3):
            raise Refused(400, f"points[{i}] must be [x, y, label]")
        x = round(number(p[0], f"points[{i}] x"), 2)
        y = round(number(p[1], f"points[{i}] y"), 2)
        pt = (x, y, check_name(p[2], f"points[{i}] label"))
        if pt in seen:
            raise Refused(400, f"points[{i}] ({x:g}, {y:g}) is a duplicate")
        seen.add(pt)
        points.append(pt)
    return SaveRequest(image, points, rev, done, classes)

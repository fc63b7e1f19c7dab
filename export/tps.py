"""TPS files (tpsDig, MorphoJ, geomorph's readland.tps): landmark configurations as text.

    LM=12
    290.00000 108.00000
    ...
    IMAGE=63001.jpg
    ID=0
    SCALE=0.001250

Coordinates have y running up from the image's bottom edge: y_tps = image height - y, where y
runs down from the top as everywhere else in scopecount. A missing landmark is written as
negative coordinates (-1 -1), which geomorph reads as missing (negNA). SCALE is millimetres
per pixel, as tpsDig writes it once a ruler is measured.

Parsing keeps every value as data: IMAGE= is a name to look up, never a path to open.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from device.core.errors import BadInput

MAX_LANDMARKS = 1000
MAX_SPECIMENS = 100_000
MISSING = (-1.0, -1.0)
_KEY = re.compile(r"([A-Za-z]+)\s*=\s*(.*)")


@dataclass(frozen=True)
class TpsSpecimen:
    points: np.ndarray  # (N, 2) as in the file: y up from the bottom edge, NaN where missing
    image: str = ""
    id: str = ""
    scale: float | None = None  # millimetres per pixel
    curve_points: int = 0  # tpsDig outline points (semilandmarks) the specimen had: not kept

    def image_points(self, height: int) -> np.ndarray:
        """x, y down from the top of an image `height` pixels tall (NaN stays NaN)."""
        out = self.points.copy()
        out[:, 1] = height - out[:, 1]
        return out


def from_image_points(pts: np.ndarray, height: int) -> np.ndarray:
    """y down (scopecount) -> y up from the bottom edge (TPS)."""
    out = np.asarray(pts, np.float64).copy()
    out[:, 1] = height - out[:, 1]
    return out


def parse_tps(text: str, where: str) -> list[TpsSpecimen]:
    """Every specimen of a TPS file; BadInput naming the file and line when it is not one."""
    lines = text.splitlines()
    out: list[TpsSpecimen] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        key, value = _key(line, where, i)
        if key != "LM":
            raise BadInput(f"{where}: line {i}: expected LM=N to start a specimen, not {key}=")
        n = _count(value, where, i, "LM", MAX_LANDMARKS)
        if i + n > len(lines):
            raise BadInput(f"{where}: line {i}: LM={n} but the file ends first")
        pts = np.array([_xy(lines[i + k], where, i + k + 1) for k in range(n)], np.float64)
        i += n
        fields: dict[str, str] = {}
        curve = 0
        while i < len(lines) and not lines[i].strip().upper().startswith("LM"):
            line = lines[i].strip()
            i += 1
            if not line or line.startswith("#"):
                continue
            key, value = _key(line, where, i)
            if key in ("CURVES", "POINTS"):
                skip = _count(value, where, i, key, 10**6) if key == "POINTS" else 0
                i, curve = i + skip, curve + skip
                continue  # outlines are not landmarks: skipped, and `import tps` says so
            fields[key] = value.strip()
        if len(out) >= MAX_SPECIMENS:
            raise BadInput(f"{where}: more than {MAX_SPECIMENS} specimens")
        out.append(
            TpsSpecimen(
                points=pts,
                image=fields.get("IMAGE", ""),
                id=fields.get("ID", ""),
                scale=_scale(fields["SCALE"], where) if "SCALE" in fields else None,
                curve_points=curve,
            )
        )
    if not out:
        raise BadInput(f"{where}: no specimen (a TPS file starts with LM=N)")
    return out


def format_tps(specimens: list[TpsSpecimen]) -> str:
    """The file's text; NaN landmarks written as -1 -1."""
    rows: list[str] = []
    for s in specimens:
        rows.append(f"LM={len(s.points)}")
        for x, y in s.points:
            if math.isfinite(x) and math.isfinite(y):
                rows.append(f"{x:.5f} {y:.5f}")
            else:
                rows.append(f"{MISSING[0]:.5f} {MISSING[1]:.5f}")
        if s.image:
            rows.append(f"IMAGE={_one_line(s.image)}")
        if s.id:
            rows.append(f"ID={_one_line(s.id)}")
        if s.scale is not None:
            rows.append(f"SCALE={s.scale:.8g}")
    return "\n".join(rows) + "\n"


def _one_line(text: str) -> str:
    """A value on its own line: any character a reader may take for a line break (including
    U+0085, U+2028 and U+2029, which str.splitlines splits at) or a control one is a space."""
    return "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in text)


def _key(line: str, where: str, no: int) -> tuple[str, str]:
    m = _KEY.fullmatch(line)
    if not m:
        raise BadInput(f"{where}: line {no}: {line[:40]!r} is not KEY=VALUE")
    return m.group(1).upper(), m.group(2)


def _count(value: str, where: str, no: int, key: str, most: int) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        n = -1
    if not 0 <= n <= most:
        raise BadInput(f"{where}: line {no}: {key}={value.strip()[:20]!r}: a count 0 to {most}")
    return n


def _xy(line: str, where: str, no: int) -> tuple[float, float]:
    parts = line.replace(",", " ").split()
    try:
        x, y = (float(v) for v in parts)
    except ValueError:
        raise BadInput(
            f"{where}: line {no}: {line.strip()[:40]!r}: expected two numbers x y"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise BadInput(f"{where}: line {no}: coordinates must be finite numbers")
    if x < 0 or y < 0:  # geomorph's negNA: a missing landmark
        return math.nan, math.nan
    return x, y


def _scale(value: str, where: str) -> float:
    try:
        s = float(value)
    except ValueError:
        s = math.nan
    if not (math.isfinite(s) and s > 0):
        raise BadInput(f"{where}: SCALE={value[:20]!r}: must be a positive number")
    return s


def specimen_points(pts: np.ndarray, height: int, image: str, scale: float | None) -> TpsSpecimen:
    """A scopecount configuration (y down) as a specimen for format_tps."""
    return TpsSpecimen(from_image_points(pts, height), image=image, scale=scale)

"""QuPath's GeoJSON ("Export objects as GeoJSON") <-> areas masks.

Reading: a FeatureCollection, a list of Features or one Feature; each classified Polygon or
MultiPolygon becomes an Annotation, in file order (later ones paint over earlier ones). Only
QuPath's annotations are read, and its detections (objectType "detection", "cell" or "tile":
the cells a classifier named) only when asked for; a feature without objectType is an
annotation, as in older exports. The file is bounded before and while it is read (size,
nesting depth, position count, finite numbers), so a hostile file is one line of BadInput and
nothing else.

Coordinates: QuPath's pixels, x right, y down, a pixel (i, j) spanning [i, i+1) x [j, j+1).
Rasterising puts each vertex in the pixel that holds it (floor) and fills the polygon through
those pixels with its outline (cv2.fillPoly); a hole takes out its interior but not its own
outline. Writing puts each outline through the centres (i + 0.5) of a region's edge pixels
(cv2.findContours, RETR_CCOMP: holes are interior rings), so that reading it back paints the
same pixels. An outline through pixel centres is half a pixel inside QuPath's own pixel-edge
outlines; for the areas of tissue that is far below what a person draws.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from device.core.errors import BadInput
from device.core.names import check_class
from device.core.text import printable, printable_path

# Far above a real export of one image's annotations, and a bound on what parsing costs: a
# file of `{},` takes some 25 times its size in memory (64 MiB of them took 2 GB).
MAX_BYTES = 16 * 2**20
MAX_POSITIONS = 2_000_000  # every ring's positions in one file together
MAX_DEPTH = 32  # QuPath nests 8 deep (collection, features, feature, geometry, 4 of coordinates)
MAX_FEATURES = 200_000
PAINT_TIMES = 16  # the polygons' boxes may cover the image this many times over, no more
NO_AREA = ("Point", "MultiPoint", "LineString", "MultiLineString", "GeometryCollection")
DETECTIONS = ("detection", "cell", "tile")  # QuPath's objectType for its detection objects

Ring = np.ndarray  # N x 2 float64, QuPath pixels


@dataclass
class Annotation:
    name: str  # the class, checked with check_class
    polygons: list[list[Ring]]  # each: its exterior ring, then its holes


def read_geojson(path: Path, detections: bool = False) -> tuple[list[Annotation], Counter[str]]:
    """The classified areas of one file (its annotations, and its detections too with
    `detections`), and what was skipped (why -> how many)."""
    where = printable_path(path)
    doc = _load(path, where)
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise BadInput(f"{where}: FeatureCollection without a features list")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, list):
        features = doc
    else:
        raise BadInput(
            f"{where}: not QuPath GeoJSON (a FeatureCollection, a list of Features or one Feature)"
        )
    if len(features) > MAX_FEATURES:
        raise BadInput(f"{where}: {len(features)} features, over the {MAX_FEATURES} limit")
    out: list[Annotation] = []
    skipped: Counter[str] = Counter()
    budget = [MAX_POSITIONS]
    for i, feat in enumerate(features):
        at = f"{where}: features[{i}]"
        if not isinstance(feat, dict) or feat.get("type", "Feature") != "Feature":
            raise BadInput(f"{at} is not a Feature")
        props = feat.get("properties")
        kind = props.get("objectType") if isinstance(props, dict) else None
        if kind not in (None, "annotation") and not (detections and kind in DETECTIONS):
            skipped[_not_annotation(kind)] += 1
            continue
        name = _class_name(props, at)
        geom = feat.get("geometry")
        if name is None:
            skipped["without a classification"] += 1
        elif geom is None:
            skipped["without a geometry"] += 1
        elif not isinstance(geom, dict):
            raise BadInput(f"{at}.geometry is not an object")
        elif geom.get("type") in NO_AREA:
            skipped[f"{geom['type']} (not a polygon)"] += 1
        elif geom.get("type") == "Polygon":
            out.append(Annotation(name, [_polygon(geom.get("coordinates"), at, budget)]))
        elif geom.get("type") == "MultiPolygon":
            polys = geom.get("coordinates")
            if not isinstance(polys, list):
                raise BadInput(f"{at}.geometry.coordinates is not a list of polygons")
            out.append(Annotation(name, [_polygon(p, at, budget) for p in polys]))
        else:
            kind = printable(str(geom.get("type")))
            raise BadInput(f"{at}.geometry: unknown type {kind!r}")
    return out, skipped


def _not_annotation(kind: object) -> str:
    """Why a feature of this objectType was skipped (a few reasons, whatever the file holds)."""
    if kind in DETECTIONS:
        return f"{kind} (a detection; --detections paints them)"
    return "of another objectType (not an annotation)"


def _load(path: Path, where: str) -> Any:
    if not path.is_file():  # a FIFO would hang the reader
        raise BadInput(f"{where}: not a regular file")
    if path.stat().st_size > MAX_BYTES:
        raise BadInput(
            f"{where}: {path.stat().st_size} bytes, over the {MAX_BYTES >> 20} MiB limit"
        )
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)  # it may have grown since stat()
    if len(data) > MAX_BYTES:
        raise BadInput(f"{where}: over the {MAX_BYTES >> 20} MiB limit")
    depth = _depth(data)
    if depth > MAX_DEPTH:
        raise BadInput(f"{where}: nested {depth} deep, over the {MAX_DEPTH} limit")
    try:
        # NaN is read as Python reads it: QuPath writes it for a missing measurement, and a
        # coordinate is checked for being finite where it is read
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise BadInput(f"{where}: not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise BadInput(f"{where}: nested too deep") from None
    except ValueError as e:  # JSONDecodeError, and int() past its digit limit
        raise BadInput(f"{where}: not valid JSON ({printable(str(e), 120)})") from None


_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')
_BLOCK = 1 << 22


def _depth(data: bytes) -> int:
    """The deepest nesting of [ and { outside strings, found before a parser recurses into it
    (in C and numpy, in blocks, so that a file of brackets costs little time and memory)."""
    # An escaped backslash or quote is no quote; then only brackets and quotes matter.
    marks = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_MARKS)
    depth = deepest = quotes = 0
    for start in range(0, len(marks), _BLOCK):
        a = np.frombuffer(marks, np.uint8, min(_BLOCK, len(marks) - start), start)
        is_quote = a == ord('"')
        outside = (np.cumsum(is_quote) + quotes) % 2 == 0
        opens = ((a == ord("[")) | (a == ord("{"))) & outside
        closes = ((a == ord("]")) | (a == ord("}"))) & outside
        level = depth + np.cumsum(opens.astype(np.int32) - closes.astype(np.int32))
        deepest = max(deepest, int(level.max()))
        depth, quotes = int(level[-1]), quotes + int(is_quote.sum())
    return deepest


def _class_name(props: object, at: str) -> str | None:
    """properties.classification.name (or an older export's classification as text); None
    for a feature nobody classified."""
    if props is None:
        return None
    if not isinstance(props, dict):
        raise BadInput(f"{at}.properties is not an object")
    cls = props.get("classification")
    name = cls.get("name") if isinstance(cls, dict) else cls
    if name is None or (isinstance(name, str) and not name.strip()):
        return None
    if not isinstance(name, str):
        raise BadInput(f"{at}.properties.classification: the name is not text")
    if name.startswith("'"):  # classes.csv would read '=x back as =x: see area_target
        raise BadInput(f"{at}: class name {printable(name)!r} starts with a quote (')")
    return check_class(name, at)


def _polygon(rings: object, at: str, budget: list[int]) -> list[Ring]:
    if not isinstance(rings, list) or not rings:
        raise BadInput(f"{at}.geometry: a polygon is a non-empty list of rings")
    return [_ring(r, at, budget) for r in rings]


def _ring(ring: object, at: str, budget: list[int]) -> Ring:
    if not isinstance(ring, list) or len(ring) < 3:
        raise BadInput(f"{at}.geometry: a ring is a list of at least 3 [x, y] positions")
    budget[0] -= len(ring)
    if budget[0] < 0:
        raise BadInput(f"{at}: over the {MAX_POSITIONS} positions limit for one file")
    out = np.empty((len(ring), 2))
    for k, pos in enumerate(ring):
        if not isinstance(pos, list) or len(pos) not in (2, 3):
            raise BadInput(f"{at}.geometry: position {k} is not [x, y]")
        for j, v in enumerate(pos):
            # bool is an int to Python, not a number to anyone else
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise BadInput(
                    f"{at}.geometry: position {k} holds {printable(repr(v))}, not a number"
                )
            try:
                f = float(v)
            except OverflowError:  # an int of hundreds of digits
                f = math.inf
            if not math.isfinite(f):
                raise BadInput(f"{at}.geometry: position {k} is not a finite number")
            if j < 2:
                out[k, j] = f
    return out


def check_inside(annotations: list[Annotation], width: int, height: int, where: str) -> None:
    """Vertices far outside the image are another image's outlines (or a downsampled one's);
    a little way outside is an outline drawn past the edge, which painting clips."""
    lo = np.array([-width, -height], float)
    hi = np.array([2 * width, 2 * height], float)
    area = 0
    for a in annotations:
        for poly in a.polygons:
            for ring in poly:
                bad = ((ring < lo) | (ring > hi)).any(axis=1)
                if bad.any():
                    x, y = ring[int(np.argmax(bad))]
                    raise BadInput(
                        f"{where}: point ({x:g}, {y:g}) is far outside its image ({width}x{height})"
                        "; are these another image's annotations, or a downsampled one's?"
                    )
                area += _box_area(ring, width, height)
    if area > PAINT_TIMES * width * height + 2**20:
        raise BadInput(
            f"{where}: the annotations cover the image more than {PAINT_TIMES} times over"
        )


def _box(ring: Ring, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixels a ring's vertices fall in: x0, y0, x1, y1 inclusive, clipped to the image."""
    x0, y0 = np.floor(ring.min(axis=0)).astype(int)
    x1, y1 = np.floor(ring.max(axis=0)).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)


def _box_area(ring: Ring, width: int, height: int) -> int:
    x0, y0, x1, y1 = _box(ring, width, height)
    return max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)


def rasterise(
    annotations: list[Annotation], values: dict[str, int], width: int, height: int, fill: int
) -> np.ndarray:
    """An 8-bit mask: `fill` everywhere, then each annotation's value (values: class name
    casefolded -> mask value) over its polygons, in file order."""
    mask = np.full((height, width), fill, np.uint8)
    for a in annotations:
        value = values[a.name.casefold()]
        for rings in a.polygons:
            inside = _inside(rings, width, height)
            if inside is not None:
                x0, y0, region = inside
                h, w = region.shape
                mask[y0 : y0 + h, x0 : x0 + w][region] = value
    return mask


def _inside(rings: list[Ring], width: int, height: int) -> tuple[int, int, np.ndarray] | None:
    """A polygon's pixels as (x0, y0, boolean box), None when it misses the image."""
    x0, y0, x1, y1 = _box(rings[0], width, height)
    if x1 < x0 or y1 < y0:
        return None
    # Each vertex in the pixel that holds it, relative to the box (int32 is all cv2 takes).
    region = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(region, [(np.floor(rings[0]) - (x0, y0)).astype(np.int32)], 1)
    for ring in rings[1:]:
        # A hole is cut within its own box, clipped to the polygon's: thousands of small holes
        # cost their own pixels (check_inside counts them), not the polygon's box each.
        hx0, hy0, hx1, hy1 = _box(ring, width, height)
        hx0, hy0, hx1, hy1 = max(hx0, x0), max(hy0, y0), min(hx1, x1), min(hy1, y1)
        if hx1 < hx0 or hy1 < hy0:
            continue  # the hole misses the polygon's box
        hole = (np.floor(ring) - (hx0, hy0)).astype(np.int32)
        cut = np.zeros((hy1 - hy0 + 1, hx1 - hx0 + 1), np.uint8)
        cv2.fillPoly(cut, [hole], 1)
        cv2.polylines(cut, [hole], True, 0)  # the hole's outline stays in the region
        region[hy0 - y0 : hy1 - y0 + 1, hx0 - x0 : hx1 - x0 + 1][cut == 1] = 0
    return x0, y0, region.astype(bool)


def mask_features(mask: np.ndarray, names: dict[int, str]) -> dict[str, Any]:
    """A FeatureCollection of one Polygon per connected region per named mask value."""
    features: list[dict[str, Any]] = []
    for value in sorted(names):
        binary = (mask == value).astype(np.uint8)
        if not binary.any():
            continue
        contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        tree = hierarchy[0]  # per contour: next, previous, first child, parent
        for i, outline in enumerate(contours):
            if tree[i][3] != -1:
                continue  # a hole: written with its region
            rings = [_ring_json(outline)]
            child = tree[i][2]
            while child != -1:
                rings.append(_ring_json(contours[child]))
                child = tree[child][0]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": rings},
                    "properties": {
                        "objectType": "annotation",
                        "classification": {"name": names[value]},
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def _ring_json(contour: np.ndarray) -> list[list[float]]:
    pts = (contour[:, 0, :] + 0.5).tolist()  # pixel index -> its centre in QuPath's frame
    pts.append(pts[0])  # GeoJSON closes a ring
    while len(pts) < 4:  # a one- or two-pixel outline still makes a valid ring
        pts.append(pts[0])
    return pts

"""The landmarks detector: frames -> one position per landmark, centroid size, and whether the
configuration is one to trust (every landmark sure, the shape near the taught ones).

The model file's scopecount.landmarks (JSON) holds the training wings' Procrustes mean shape
and the limits its flags use; models/README.md documents it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from typing import Any

import numpy as np

from device.core.errors import ModelError
from device.measuring.landmark_refine import (
    MAX_BLUR,
    MAX_PATCH,
    MAX_RADIUS,
    LocalLooks,
    grey,
    refine,
    standardised,
)
from device.measuring.landmarks import VIEW_COUNTS, LandmarkParams, read_views, to_frame
from device.measuring.meta_values import plain_number
from device.measuring.onnx_model import OnnxModel
from device.measuring.result import Measurement
from device.measuring.shapes import centroid_size, superimpose

META_KEY = "scopecount.landmarks"


def params_to_meta(p: LandmarkParams) -> str:
    return json.dumps(
        {
            "mean_shape": [[round(float(x), 6), round(float(y), 6)] for x, y in p.mean_shape],
            "max_distance": p.max_distance,
            "unsure_below": p.unsure_below,
            "absent_below": p.absent_below,
            "views": p.views,
        }
        | ({} if p.looks is None else {"looks": looks_to_meta(p.looks)})
    )


def looks_to_meta(lk: LocalLooks) -> dict[str, Any]:
    """Each patch as bytes 0-255 between its own lowest and highest value (the match ignores
    brightness and contrast, so this keeps all it uses), base64 in the JSON."""
    lo = lk.patches.min(axis=(1, 2), keepdims=True)
    span = np.maximum(lk.patches.max(axis=(1, 2), keepdims=True) - lo, 1e-12)
    q = np.round((lk.patches - lo) / span * 255).astype(np.uint8)
    return {
        "size": lk.size,
        "radius": lk.radius,
        "blur": lk.blur,
        "wing_size": round(centroid_size(lk.canon), 4),
        "spread": [round(min(float(s), 1e5), 4) for s in lk.spread],
        "patches": base64.b64encode(q.tobytes()).decode("ascii"),
    }


def _whole(d: dict[str, Any], key: str, where: str, lo: int, hi: int) -> int:
    v = d.get(key)
    if type(v) is not int or not lo <= v <= hi:
        raise ModelError(
            f"{where}: metadata {META_KEY}.looks.{key} must be a whole number in [{lo}, {hi}]"
        )
    return v


def looks_from_meta(raw: Any, where: str, mean_shape: np.ndarray) -> LocalLooks:
    """scopecount.landmarks.looks checked: ModelError naming the file and key."""
    if not isinstance(raw, dict):
        raise ModelError(f"{where}: metadata {META_KEY}.looks is not a JSON object")
    size = _whole(raw, "size", where, 3, MAX_PATCH)
    if size % 2 == 0:  # the landmark sits on the centre pixel
        raise ModelError(f"{where}: metadata {META_KEY}.looks.size must be odd, not {size}")
    radius = _whole(raw, "radius", where, 1, MAX_RADIUS)
    blur = plain_number(raw.get("blur"), MAX_BLUR)
    wing = plain_number(raw.get("wing_size"), 1e5, 1e-3)
    if blur is None or wing is None:
        key, span = (
            ("blur", f"0 to {MAX_BLUR:g}") if blur is None else ("wing_size", "0.001 to 1e5")
        )
        raise ModelError(f"{where}: metadata {META_KEY}.looks.{key} must be a number from {span}")
    n = len(mean_shape) * size * size
    text = raw.get("patches")
    try:
        if not isinstance(text, str) or len(text) != 4 * -(-n // 3):
            raise ValueError(text)
        data = base64.b64decode(text, validate=True)
        if len(data) != n:
            raise ValueError(text)
    except (ValueError, binascii.Error):
        raise ModelError(
            f"{where}: metadata {META_KEY}.looks.patches must be base64 of {n} bytes "
            f"({len(mean_shape)} patches of {size}x{size})"
        ) from None
    q = np.frombuffer(data, np.uint8).reshape(len(mean_shape), size, size).astype(np.float32)
    patches = np.stack([standardised(p) for p in q])
    spread = raw.get("spread")
    values = [plain_number(v, 1e5) for v in spread] if isinstance(spread, list) else []
    if len(values) != len(mean_shape) or any(v is None for v in values):
        raise ModelError(
            f"{where}: metadata {META_KEY}.looks.spread must be {len(mean_shape)} numbers "
            "from 0 to 100000 (one per landmark)"
        )
    return LocalLooks(mean_shape * wing, patches, radius, blur, np.array(values, np.float64))


def _limit(d: dict[str, Any], key: str, where: str, hi: float) -> float:
    v = plain_number(d.get(key), hi)  # None for NaN, bools, integers no float holds
    if v is None:
        raise ModelError(f"{where}: metadata {META_KEY}.{key} must be a number in [0, {hi:g}]")
    return v


def params_from_meta(meta: dict[str, str], where: str, n: int) -> LandmarkParams:
    """scopecount.landmarks checked: ModelError naming the file and key."""
    raw = meta.get(META_KEY)
    if raw is None:
        raise ModelError(f"{where}: metadata {META_KEY} missing (a landmarks model needs it)")
    try:
        d = json.loads(raw)
    except (ValueError, RecursionError):
        d = None
    if not isinstance(d, dict):
        raise ModelError(f"{where}: metadata {META_KEY} is not a JSON object")
    shape = d.get("mean_shape")
    try:
        arr = np.array(shape, np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = np.zeros(0)
    if arr.shape != (n, 2) or not np.isfinite(arr).all() or abs(centroid_size(arr) - 1) > 1e-3:
        raise ModelError(
            f"{where}: metadata {META_KEY}.mean_shape must be {n} [x, y] pairs at unit "
            "centroid size (one per landmark)"
        )
    views = d.get("views", 1)  # absent in models made before views were read
    if type(views) is not int or views not in VIEW_COUNTS:
        allowed = ", ".join(map(str, VIEW_COUNTS))
        got = repr(views) if type(views) is int and abs(views) < 10**6 else type(views).__name__
        raise ModelError(f"{where}: metadata {META_KEY}.views must be one of {allowed}, not {got}")
    return LandmarkParams(
        mean_shape=arr,
        max_distance=_limit(d, "max_distance", where, 2.0),
        unsure_below=_limit(d, "unsure_below", where, 1.0),
        absent_below=_limit(d, "absent_below", where, 1.0),
        views=views,
        looks=None if d.get("looks") is None else looks_from_meta(d["looks"], where, arr),
    )


def finer(
    pts: list[tuple[float, float] | None], gray: np.ndarray, looks: LocalLooks
) -> list[tuple[float, float] | None]:
    """The landmarks placed finer by their looks, kept within the frame's pixels."""
    arr = np.array([p if p is not None else (np.nan, np.nan) for p in pts], np.float64)
    moved = refine(gray, arr, looks)
    h, w = gray.shape[:2]
    return [
        None if p is None else (float(np.clip(x, 0, w - 1)), float(np.clip(y, 0, h - 1)))
        for p, (x, y) in zip(pts, moved, strict=True)
    ]


class LandmarkMeter(OnnxModel):
    """One heatmap per landmark, in the order of the model's landmark names (its classes)."""

    task = "landmarks"

    def __init__(
        self, data: bytes, where: str = "model", threads: int = 0, *, scanned: bool = False
    ) -> None:
        super().__init__(data, where, threads, scanned=scanned)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.params = params_from_meta(meta, where, len(self.info.classes))
        if len(self.info.classes) < 3:
            raise ModelError(f"{where}: a landmarks model needs at least 3 landmarks")

    def measure(self, rgb: np.ndarray) -> Measurement:
        t = time.perf_counter()
        small = self.at_scale(rgb)
        try:
            uv, height = read_views(
                self._heat,
                small,
                self.info.output_stride,
                self.params.mean_shape,
                self.params.views,
            )
        except ValueError as e:  # NaN maps: the model, not the frame
            raise ModelError(f"{self.where}: {e}") from None
        pts, conf = to_frame(
            uv,
            height,
            self.info.input_scale,
            self.info.output_stride,
            rgb.shape[:2],
            self.params.absent_below,
        )
        if self.params.looks is not None:
            pts = finer(pts, grey(rgb), self.params.looks)
        return self._judged(pts, conf, (time.perf_counter() - t) * 1000)

    def _heat(self, small: np.ndarray) -> np.ndarray:
        # float32 as the maps are read: a double beyond its range is infinite, and refused
        with np.errstate(over="ignore"):
            heat = np.asarray(self.run(small), np.float32)
        if heat.shape[0] != len(self.info.classes):
            raise ModelError(
                f"{self.where}: {heat.shape[0]} heatmaps for {len(self.info.classes)} landmarks"
            )
        return heat

    def _judged(
        self, pts: list[tuple[float, float] | None], conf: list[float], ms: float
    ) -> Measurement:
        """Centroid size, side and the flags: `unsure` for a weak or missing landmark, `shape`
        for a configuration far from the taught mean (or too incomplete to compare)."""
        arr = np.array([p if p is not None else (np.nan, np.nan) for p in pts], np.float64)
        flags = []
        if any(p is None for p in pts) or min(conf) < self.params.unsure_below:
            flags.append("unsure")
        # a size from some of the landmarks is not comparable with a whole wing's: none then
        cs = centroid_size(arr) if all(p is not None for p in pts) else float("nan")
        mirrored = distance = None
        try:
            fit = superimpose(arr, self.params.mean_shape, allow_mirror=True)
            mirrored, distance = fit.mirrored, fit.distance
            if distance > self.params.max_distance:
                flags.append("shape")
        except ValueError:
            flags.append("shape")
        return Measurement(
            {},
            [],
            {},
            ms,
            flags=flags,
            task="landmarks",
            landmarks=pts,
            confidence=conf,
            centroid_size=None if math.isnan(cs) else cs,
            mirrored=mirrored,
            shape_distance=distance,
        )

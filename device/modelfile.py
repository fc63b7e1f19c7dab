"""Self-describing model files: an ONNX graph whose metadata_props say how to use it.

Every key is documented in models/README.md. Reading is strict: a missing or malformed key is a
ModelError naming the file and the key, never a crash later on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.decode import DecodeParams
from device.errors import ModelError
from device.zoom import ZoomRef

FORMAT_VERSION = "1"
REQUIRED_KEYS = (
    "scopecount.format",
    "scopecount.name",
    "scopecount.classes",
    "scopecount.object_size_px",
    "scopecount.input_scale",
    "scopecount.normalization",
    "scopecount.output_stride",
    "scopecount.decode",
    "scopecount.training",
    "scopecount.metrics",
)


SYNTHETIC_WARNING = (
    "demo model, trained on synthetic vials only: its counts of real images are not "
    "meaningful (teach it your own: scopecount train)"
)


@dataclass
class ModelInfo:
    name: str
    classes: list[str]
    object_size_px: float
    input_scale: float
    mean: list[float]
    std: list[float]
    output_stride: int
    decode: DecodeParams
    training: dict[str, Any]
    metrics: dict[str, Any]
    description: str = ""
    quantization: str = "float32"
    zoom: ZoomRef | None = None  # absent in older models: frames are counted at input_scale
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def warning(self) -> str:
        """What every result of this model must say ('' when nothing): a model trained on
        synthetic vials only gives numbers on real photographs that mean nothing."""
        if self.training.get("synthetic"):
            return SYNTHETIC_WARNING
        return ""

    def to_metadata(self) -> dict[str, str]:
        meta = {
            "scopecount.format": FORMAT_VERSION,
            "scopecount.name": self.name,
            "scopecount.classes": json.dumps(self.classes),
            "scopecount.object_size_px": f"{self.object_size_px:.4f}",
            "scopecount.input_scale": f"{self.input_scale:.6f}",
            "scopecount.normalization": json.dumps(
                {"channels": "RGB", "divide": 255.0, "mean": self.mean, "std": self.std}
            ),
            "scopecount.output_stride": str(self.output_stride),
            "scopecount.decode": json.dumps(
                {
                    "count_scale": self.decode.count_scale,
                    "kernel_sigma": self.decode.kernel_sigma,
                }
            ),
            "scopecount.training": json.dumps(self.training),
            "scopecount.metrics": json.dumps(self.metrics),
            "scopecount.description": self.description,
            "scopecount.quantization": self.quantization,
        }
        if self.zoom is not None:
            z = self.zoom
            meta["scopecount.zoom"] = json.dumps(
                {"ref_px": z.ref_px, "lo": z.lo, "hi": z.hi, "adapt": z.adapt}
            )
        meta.update(self.extra)
        return meta


def _json(where: str, key: str, raw: str, kind: type) -> Any:
    try:
        val = json.loads(raw)
    except json.JSONDecodeError:
        raise ModelError(f"{where}: metadata {key} is not valid JSON") from None
    if not isinstance(val, kind):
        raise ModelError(f"{where}: metadata {key} must be a JSON {kind.__name__}")
    return val


def _number(where: str, key: str, raw: Any, lo: float, hi: float) -> float:
    try:
        val = float(raw)
    except (TypeError, ValueError):
        raise ModelError(f"{where}: metadata {key}={raw!r} is not a number") from None
    if not (lo <= val <= hi):
        raise ModelError(f"{where}: metadata {key}={val:g} is outside [{lo:g}, {hi:g}]")
    return val


def parse_metadata(meta: dict[str, str], where: str) -> ModelInfo:
    """Validate metadata_props; ModelError names the file (`where`) and the key."""
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(f"{where}: not a scopecount model (metadata {missing[0]} missing)")
    if meta["scopecount.format"] != FORMAT_VERSION:
        raise ModelError(
            f"{where}: metadata scopecount.format={meta['scopecount.format']!r}, "
            f"this scopecount reads format {FORMAT_VERSION}"
        )
    name = meta["scopecount.name"].strip()
    if not name:
        raise ModelError(f"{where}: metadata scopecount.name is empty")
    classes = _json(where, "scopecount.classes", meta["scopecount.classes"], list)
    if not classes or not all(isinstance(c, str) and c for c in classes):
        raise ModelError(f"{where}: metadata scopecount.classes must be non-empty class names")
    if len(set(classes)) != len(classes):
        raise ModelError(f"{where}: metadata scopecount.classes has duplicate names")
    from device.names import CLASS_MAX, problem

    for c in classes:  # class names go into records and CSVs (never into file names)
        if why := problem(c, CLASS_MAX):
            raise ModelError(f"{where}: metadata scopecount.classes: class {c[:60]!r} {why}")
    norm = _json(where, "scopecount.normalization", meta["scopecount.normalization"], dict)
    mean, std = norm.get("mean"), norm.get("std")
    ok = isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 3
    if not ok or not all(isinstance(v, int | float) for v in mean + std) or min(std) <= 0:
        raise ModelError(
            f"{where}: metadata scopecount.normalization needs mean and std, 3 numbers each"
        )
    stride = _number(where, "scopecount.output_stride", meta["scopecount.output_stride"], 1, 64)
    if stride != int(stride):
        raise ModelError(f"{where}: metadata scopecount.output_stride must be an integer")
    scale = _number(where, "scopecount.input_scale", meta["scopecount.input_scale"], 0.01, 16)
    size = _number(where, "scopecount.object_size_px", meta["scopecount.object_size_px"], 0.5, 2000)
    dec = _json(where, "scopecount.decode", meta["scopecount.decode"], dict)
    cs = _number(where, "scopecount.decode.count_scale", dec.get("count_scale"), 0.1, 10)
    ks = _number(where, "scopecount.decode.kernel_sigma", dec.get("kernel_sigma"), 0.1, 100)
    zoom = None
    if "scopecount.zoom" in meta:
        z = _json(where, "scopecount.zoom", meta["scopecount.zoom"], dict)
        zoom = ZoomRef(
            _number(where, "scopecount.zoom.ref_px", z.get("ref_px"), 0.5, 2000),
            _number(where, "scopecount.zoom.lo", z.get("lo"), 0.01, 1),
            _number(where, "scopecount.zoom.hi", z.get("hi"), 1, 100),
            bool(z.get("adapt", False)),
        )
    return ModelInfo(
        zoom=zoom,
        name=name,
        classes=classes,
        object_size_px=size,
        input_scale=scale,
        mean=[float(v) for v in mean],
        std=[float(v) for v in std],
        output_stride=int(stride),
        decode=DecodeParams(int(stride), scale, cs, ks),
        training=_json(where, "scopecount.training", meta["scopecount.training"], dict),
        metrics=_json(where, "scopecount.metrics", meta["scopecount.metrics"], dict),
        description=meta.get("scopecount.description", ""),
        quantization=meta.get("scopecount.quantization", "float32"),
    )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_model_bytes(path: str | Path) -> bytes:
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such model file")
    if p.is_dir():
        raise ModelError(f"{p}: is a folder, not a model file")
    data = p.read_bytes()
    if not data:
        raise ModelError(f"{p}: empty model file")
    return data

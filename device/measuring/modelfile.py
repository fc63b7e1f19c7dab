"""Self-describing model files: an ONNX graph whose metadata_props say how to use it.

Every key is documented in models/README.md. Reading is strict: a missing or malformed key is a
ModelError naming the file and the key, never a crash later on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from device.core.errors import ModelError
from device.core.names import CLASS_MAX, class_problem, problem
from device.core.text import printable
from device.measuring.meta_values import meta_flag, meta_number, plain_number

if TYPE_CHECKING:  # numpy and OpenCV: imported where used, not by `model install`'s checks
    from device.measuring.decode import DecodeParams
    from device.measuring.zoom import ZoomRef

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
# Names are shown on the bench, written into every record and CSV: short, one line, never a path.
MAX_NAME_CHARS = 100
MAX_CLASS_CHARS = CLASS_MAX  # device/core/names.py: the same limit wherever a class name enters
MAX_CLASSES = 32
MAX_VALUE_CHARS = 64 * 1024  # any one metadata value (training summary, metrics, description)
# What a model may say it measures (scopecount.task; absent: count, as every older model).
# device/measuring/detector.py has one detector per task; the format keeps room for more.
TASKS = ("count", "areas", "landmarks")

# A zoom range `train` measured on fewer held-back images than this is noisy: one odd image
# moves it (train, model list and the README say so).
FEW_ZOOM_IMAGES = 8


def check_name(value: object, key: str, where: str, max_chars: int) -> str:
    """A model or class name: ModelError naming the file and key unless it is a plain name
    (the rules of device/core/names.py, which every other entry point uses too)."""
    if not isinstance(value, str):
        raise ModelError(f"{where}: metadata {key} must be a string")
    why = problem(value, max_chars)
    if why:
        # The value itself only when it is short enough to show, and escaped.
        shown = f"={printable(value)!r}" if value.strip() and len(value) <= max_chars else ""
        raise ModelError(f"{where}: metadata {key}{shown} {why}")
    return value


def learnt_what(task: object) -> str:
    """What a model of `task` did not learn, in words."""
    words = {"areas": "tell its classes apart", "landmarks": "place its landmarks"}
    return words.get(task, "count") if isinstance(task, str) else "count"


def not_learnt_sentence(task: object, train_mae: object) -> str:
    """What `model install` and `model use` say of a model `train` marked as not learnt."""
    what = learnt_what(task)
    if what != "count":
        return f"this model did NOT learn to {what}"
    shown = "?" if train_mae is None else printable(str(train_mae), 20)
    return (
        f"this model did NOT learn to count (training-image MAE {shown}, close to counting nothing)"
    )


NOT_LEARNT_WARNING = (
    "this model did not learn to count (its training-image error is close to counting "
    "nothing): its counts are not to be trusted"
)
NOT_PLACED_WARNING = (
    "this model did not learn to place its landmarks (its training-wing error is over 5% of "
    "the wing length): its landmarks are not to be trusted"
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
    task: str = "count"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def warning(self) -> str:
        """What every result of this model must say ('' when nothing): a model trained on
        synthetic vials only gives numbers on real photographs that mean nothing."""
        if self.training.get("synthetic"):
            return SYNTHETIC_WARNING
        if self.metrics.get("learnt") is False:
            return NOT_PLACED_WARNING if self.task == "landmarks" else NOT_LEARNT_WARNING
        return ""

    @property
    def warning_flag(self) -> str:
        """The flag every record of this model carries ('' when nothing): demo or not-learnt."""
        if self.training.get("synthetic"):
            return "demo"
        if self.metrics.get("learnt") is False:
            return "not-learnt"
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
            "scopecount.task": self.task,
        }
        if self.zoom is not None:
            z = self.zoom
            from device.measuring.zoom import FLAG_ABOVE, FLAG_BELOW

            zd: dict[str, Any] = {"ref_px": z.ref_px, "lo": z.lo, "hi": z.hi, "adapt": z.adapt}
            if (z.flag_lo, z.flag_hi) != (FLAG_BELOW, FLAG_ABOVE):  # the model's own range
                zd |= {"flag_lo": z.flag_lo, "flag_hi": z.flag_hi}
            meta["scopecount.zoom"] = json.dumps(zd)
        meta.update(self.extra)
        return meta


def _json(where: str, key: str, raw: str, kind: type) -> Any:
    try:
        val = json.loads(raw)
    except (ValueError, RecursionError):  # also integers of thousands of digits, deep nesting
        raise ModelError(f"{where}: metadata {key} is not valid JSON") from None
    if not isinstance(val, kind):
        raise ModelError(f"{where}: metadata {key} must be a JSON {kind.__name__}")
    return val


def parse_metadata(meta: dict[str, str], where: str) -> ModelInfo:
    """Validate metadata_props; ModelError names the file (`where`) and the key."""
    from device.measuring.decode import (
        DecodeParams,  # numpy: not needed by check_metadata's callers
    )
    from device.measuring.zoom import ZoomRef

    v = check_metadata(meta, where)
    return ModelInfo(
        zoom=ZoomRef(*v["zoom"]) if v["zoom"] is not None else None,
        name=v["name"],
        classes=v["classes"],
        object_size_px=v["size"],
        input_scale=v["scale"],
        mean=v["mean"],
        std=v["std"],
        output_stride=v["stride"],
        decode=DecodeParams(v["stride"], v["scale"], v["count_scale"], v["kernel_sigma"]),
        training=v["training"],
        metrics=v["metrics"],
        description=meta.get("scopecount.description", ""),
        quantization=meta.get("scopecount.quantization", "float32"),
        task=v["task"],
    )


def check_metadata(meta: dict[str, str], where: str) -> dict[str, Any]:
    """Every check of parse_metadata, without building a ModelInfo: the checked values."""
    _check_format(meta, where)
    name = check_name(meta["scopecount.name"], "scopecount.name", where, MAX_NAME_CHARS)
    classes = _check_classes(meta, where)
    mean, std = _check_normalization(meta, where)
    stride = meta_number(where, "scopecount.output_stride", meta["scopecount.output_stride"], 1, 64)
    if stride != int(stride):
        raise ModelError(f"{where}: metadata scopecount.output_stride must be an integer")
    # at most 4: train enlarges 2.5x at most, and at 16 one 1280x960 frame took 6 GB of memory
    scale = meta_number(where, "scopecount.input_scale", meta["scopecount.input_scale"], 0.01, 4)
    size = meta_number(
        where, "scopecount.object_size_px", meta["scopecount.object_size_px"], 0.5, 2000
    )
    dec = _json(where, "scopecount.decode", meta["scopecount.decode"], dict)
    cs = meta_number(where, "scopecount.decode.count_scale", dec.get("count_scale"), 0.1, 10)
    ks = meta_number(where, "scopecount.decode.kernel_sigma", dec.get("kernel_sigma"), 0.1, 100)
    zoom = (
        _check_zoom(meta["scopecount.zoom"], where, size * scale)
        if "scopecount.zoom" in meta
        else None
    )
    return {
        "task": _check_task(meta, where),
        "name": name,
        "classes": classes,
        "size": size,
        "scale": scale,
        "mean": mean,
        "std": std,
        "stride": int(stride),
        "count_scale": cs,
        "kernel_sigma": ks,
        "zoom": zoom,
        "training": _json(where, "scopecount.training", meta["scopecount.training"], dict),
        "metrics": _json(where, "scopecount.metrics", meta["scopecount.metrics"], dict),
    }


def _check_format(meta: dict[str, str], where: str) -> None:
    """Every required key there, no value too long, and the format version this code reads."""
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(f"{where}: not a scopecount model (metadata {missing[0]} missing)")
    for k, v in meta.items():
        if len(v) > MAX_VALUE_CHARS:
            raise ModelError(
                f"{where}: metadata {printable(k)} is {len(v)} characters long "
                f"(at most {MAX_VALUE_CHARS})"
            )
    if meta["scopecount.format"] != FORMAT_VERSION:
        raise ModelError(
            f"{where}: metadata scopecount.format={meta['scopecount.format']!r}, "
            f"this scopecount reads format {FORMAT_VERSION}"
        )


def _check_task(meta: dict[str, str], where: str) -> str:
    task = meta.get("scopecount.task", "count")
    if task not in TASKS:
        raise ModelError(
            f"{where}: metadata scopecount.task={printable(task, 40)!r} is not a task this "
            f"scopecount measures ({', '.join(TASKS)}); a newer scopecount may read it"
        )
    return task


def _check_classes(meta: dict[str, str], where: str) -> list[str]:
    classes = _json(where, "scopecount.classes", meta["scopecount.classes"], list)
    if not classes:
        raise ModelError(f"{where}: metadata scopecount.classes must be non-empty class names")
    if len(classes) > MAX_CLASSES:
        raise ModelError(
            f"{where}: metadata scopecount.classes has {len(classes)} names (at most {MAX_CLASSES})"
        )
    for i, c in enumerate(classes):  # they go into records and CSVs (never into file names)
        check_name(c, f"scopecount.classes[{i}]", where, MAX_CLASS_CHARS)
        if class_problem(c):
            raise ModelError(f"{where}: metadata scopecount.classes[{i}] {class_problem(c)}")
    if len(set(classes)) != len(classes):
        raise ModelError(f"{where}: metadata scopecount.classes has duplicate names")
    return classes


def _check_normalization(meta: dict[str, str], where: str) -> tuple[list[float], list[float]]:
    """The input's per-channel mean and std: three finite numbers each."""
    norm = _json(where, "scopecount.normalization", meta["scopecount.normalization"], dict)
    mean, std = norm.get("mean"), norm.get("std")
    ok = isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 3
    ok = ok and all(plain_number(v, 1e308, lo=-1e308) is not None for v in mean + std)
    if not ok or min(std) < 1e-3 or max(abs(v) for v in mean) > 1e3:
        raise ModelError(
            f"{where}: metadata scopecount.normalization needs mean and std, 3 finite numbers "
            "each (std at least 0.001)"
        )
    return [float(v) for v in mean], [float(v) for v in std]


def _check_zoom(
    text: str, where: str, shown: float
) -> tuple[float, float, float, bool, float, float]:
    """scopecount.zoom: the object measure frames are compared with, the training images'
    spread around it (`shown`: the object size the model is shown, in its input pixels), and
    the zooms the model counts well at (older models: the one rule for all)."""
    from device.measuring.zoom import FLAG_ABOVE, FLAG_BELOW

    z = _json(where, "scopecount.zoom", text, dict)
    zoom = (
        meta_number(where, "scopecount.zoom.ref_px", z.get("ref_px"), 0.5, 2000),
        meta_number(where, "scopecount.zoom.lo", z.get("lo"), 0.01, 1),
        meta_number(where, "scopecount.zoom.hi", z.get("hi"), 1, 100),
        meta_flag(where, "scopecount.zoom.adapt", z.get("adapt", False)),
        meta_number(where, "scopecount.zoom.flag_lo", z.get("flag_lo", FLAG_BELOW), 0.05, 1),
        meta_number(where, "scopecount.zoom.flag_hi", z.get("flag_hi", FLAG_ABOVE), 1, 20),
    )
    # What `train` writes: the measure of objects shown at the model's own size. Far from
    # it, a frame would be recounted at a scale the model never had in mind.
    if not shown / 3 <= zoom[0] <= shown * 3:
        raise ModelError(
            f"{where}: metadata scopecount.zoom.ref_px={zoom[0]:g} is far from the object "
            f"size the model is shown ({shown:g} px): not a zoom reference `train` made"
        )
    return zoom


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


def write_model_file(dest: str | Path, data: bytes) -> list[Path]:
    """Put a finished model at `dest` (atomically) without the signature of the file it replaces.

    A .sig belongs to the bytes it was made for: left beside a retrained model, `deploy` would
    send it and a signed-only bench would refuse the new model. The .sig goes first, so that a
    crash in between leaves an unsigned old model, never a model with a wrong signature.
    Returns the signature files removed.
    """
    from device.core.durable import replace_file

    p = Path(dest)
    removed = [s for s in [drop_stale_signature(p)] if s is not None]
    replace_file(p, data)
    return removed


def sig_path(model: str | Path) -> Path:
    """Where `model sign` writes, and `install` and `deploy` look for, a model's signature."""
    p = Path(model)
    return p.with_name(p.name + ".sig")


def drop_stale_signature(model: str | Path) -> Path | None:
    """Remove the .sig beside a model file that is about to be replaced; returns what it removed.

    A signature belongs to the bytes it was made for: left beside a retrained model it would be
    sent along and refused by the bench.
    """
    p = sig_path(model)
    if p.exists() or p.is_symlink():
        p.unlink()
        return p
    return None

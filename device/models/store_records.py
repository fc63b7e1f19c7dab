"""The model store's own small files, read as untrusted: install records (a bounded read of a
JSON object, never through a link) and the training figures a model file carries."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from device.core.untrusted_file import read_regular
from device.measuring.meta_values import plain_number
from device.measuring.modelfile import check_metadata
from device.measuring.onnx_scan import scan

# Far above any real figure (networks cost hundreds to a few thousand MACs per input pixel;
# MAE is in objects): beyond this a file's claim is not shown.
MAX_FIGURE = 1e6
# What an install record keeps of them (absent from records written before they were kept).
FIGURE_KEYS = (
    "train_mae",
    "learnt",
    "gmac",
    "pi4_s",
    "zoom_range",
    "task",
    "train_share_pp",
    "train_error_px",
    "zoom_images",
)


def training_figures(checked: dict) -> dict:
    """What `train` measured and what a frame costs, for `model list` and install's warning:
    only well-typed values (a hand-made file may carry anything)."""
    from device.measuring.pi_cost import frame_gmac, seconds_per_frame

    def number(d: dict, key: str) -> float | None:
        return plain_number(d.get(key), MAX_FIGURE)

    metrics, training = checked["metrics"], checked["training"]
    mae, per_pixel = number(metrics, "train_mae"), number(metrics, "macs_per_input_pixel")
    learnt = metrics.get("learnt")
    gmac = pi4 = None
    if per_pixel is not None:
        gmac = round(frame_gmac(per_pixel, checked["scale"]), 3)
        # `train` records its design; files from before it had two (the shipped demo) carry
        # a width and no design, and were all unet. Unknown: the slower design's figure.
        arch = training.get("arch", "unet" if "width" in training else None)
        pi4 = round(seconds_per_frame(gmac, arch if isinstance(arch, str) else "")["Pi 4"], 2)
    zoom = checked.get("zoom")  # validated: the zooms (x taught size) it counts well at
    measured = training.get("zoom_range")  # where train measured them: on how many images
    images = measured.get("images") if isinstance(measured, dict) else None
    shares = metrics.get("fraction_error")  # areas: each class's share error, points
    share_pp = None
    if isinstance(shares, dict) and shares:
        vals = [plain_number(v, 100) for v in shares.values()]
        share_pp = (
            max(v for v in vals if v is not None) if any(v is not None for v in vals) else None
        )
    return {
        "task": checked.get("task", "count"),
        "train_share_pp": share_pp,
        "train_error_px": number(metrics, "train_error_px"),  # landmarks: mean on its wings
        "train_mae": mae,
        "learnt": learnt if isinstance(learnt, bool) else None,
        "gmac": gmac,
        "pi4_s": pi4,
        "zoom_range": [round(zoom[4], 2), round(zoom[5], 2)] if zoom else None,
        # None: the one rule for all (not measured)
        "zoom_images": images if type(images) is int and 0 < images < 10**6 else None,
    }


def figures_of(data: bytes, where: str) -> dict:
    """The training figures in a model file's metadata (ModelError where it is damaged)."""
    return training_figures(check_metadata(scan(data, where), where))


MAX_RECORD_BYTES = 64 * 1024


def read_record(path: Path) -> dict | None:
    """An install record, or None where it is missing, damaged or not a JSON object."""
    try:
        info = json.loads(read_regular(path, MAX_RECORD_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    return info if isinstance(info, dict) else None


def installed_at(record: dict) -> float:
    """When a model was installed, as a moment (install times carry the UTC offset of the day:
    compared as text they misorder across a clock change); unreadable: oldest."""
    try:
        return datetime.fromisoformat(str(record.get("installed"))).timestamp()
    except (ValueError, OverflowError, OSError):
        return float("-inf")

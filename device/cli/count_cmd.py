"""`scopecount count IMAGE...`: count objects in image files, offline."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from device.cli.options import Subcommands, add_model_option, add_threads_option
from device.core.errors import BadInput
from device.core.objectives import UM_PER_PX_RANGE
from device.core.paths import default_model


def register(sub: Subcommands) -> None:
    c = sub.add_parser(
        "count",
        help="count objects in image files (an areas model: each class's share of them)",
    )
    c.add_argument("images", nargs="+", metavar="IMAGE", help="png, jpg or tif files")
    add_model_option(
        c,
        "model file (.onnx); default: the shipped demo model (models/drosophila-eggs-demo.onnx)",
        metavar=None,
    )
    c.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    c.add_argument(
        "--overlay",
        metavar="DIR",
        help="write PNGs with the counted points (areas: the classes) drawn over each image here",
    )
    c.add_argument(
        "--um-per-px",
        type=float,
        metavar="X",
        help="the images' scale in micrometres per pixel (scopecount calibrate measures it): "
        "--json then adds um_per_px, per_mm2 (counts) or mm2 (areas), and the text the same",
    )
    add_threads_option(c, "inference threads (0: all cores)", default=0)
    c.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    # OpenCV and onnxruntime load only when images are counted, not for every command's parser
    from device.cli.counting import count_files

    model = Path(a.model) if a.model else default_model()
    overlay = Path(a.overlay) if a.overlay else None
    um = a.um_per_px
    lo, hi = UM_PER_PX_RANGE
    if um is not None and not (math.isfinite(um) and lo <= um <= hi):
        raise BadInput(f"--um-per-px {um}: must be a number in [{lo}, {hi}]")
    return count_files(a.images, model, a.json, overlay, a.threads, um)

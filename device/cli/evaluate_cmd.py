"""`scopecount evaluate FOLDER`: measure a model, or a learning curve, on an annotated folder
(the work is export/evaluate.py: imported when the command runs)."""

from __future__ import annotations

import argparse

from device.cli.options import Subcommands, add_model_option, radius, turn_angle, zoom_list
from device.cli.train_cmd import TRAIN_TOOLS
from device.core.errors import BadInput


def register(sub: Subcommands) -> None:
    e = sub.add_parser(
        "evaluate",
        help="measure a model (or a learning curve) on a folder",
        description="Measure a model on an annotated folder it never saw. A counting folder "
        "(points.csv) gives MAE, relative error, point precision/recall and a scatter; an areas "
        "folder (masks/) gives per-class Dice and IoU, each image's share error in percentage "
        "points, a predicted-vs-true share scatter (flagged images as rings), which images the "
        "bench would flag uncertain (much of the frame between classes; left out of its "
        "summaries) and the share error of the rest, and, with --overlays, pictures; a landmarks "
        "folder (landmarks.csv) gives each landmark's mean and 90th-percentile distance (px "
        "and % of wing length), the centroid-size error and the Procrustes distance.",
    )
    e.add_argument("folder", metavar="FOLDER")
    g = e.add_mutually_exclusive_group(required=True)
    add_model_option(g, "the model file (.onnx) to measure")
    g.add_argument("--learning-curve", action="store_true", help="train on 1, 2, 4, ... images")
    e.add_argument("--json", action="store_true", help="print the figures as JSON")
    e.add_argument(
        "--radius",
        type=radius,
        help="point matching radius in px (default: half the model's object size, at least 3 px)",
    )
    e.add_argument(
        "--plot",
        metavar="PNG",
        help="where to write the picture (default: MODELNAME_on_FOLDERNAME_scatter.png beside "
        "the model, or FOLDERNAME_learning_curve.png beside the folder; the full path is printed)",
    )
    e.add_argument(
        "--overlays",
        metavar="DIR",
        help="areas and landmarks folders: write each image with what the model found drawn "
        "over it into DIR",
    )
    e.add_argument(
        "--zooms",
        type=zoom_list,
        default=[1.0],
        metavar="Z,Z,...",
        help="also count every image resized by these factors, as after turning the zoom knob "
        "(e.g. 0.7,1,1.4); one line of figures per zoom",
    )
    e.add_argument(
        "--turn",
        type=turn_angle,
        metavar="DEGREES",
        help="landmarks folders: score every image turned by DEGREES (counter-clockwise, canvas "
        "enlarged, borders replicated), or by a different angle per image with `random`, as "
        "wings lie on a slide",
    )
    e.add_argument(
        "--mirror",
        action="store_true",
        help="landmarks folders: score every image mirrored (the wing's other side up; the "
        "numbering stays anatomical)",
    )
    e.add_argument(
        "--steps",
        type=int,
        default=1000,
        help="training steps per model, for --learning-curve (default 1000: a curve trains many "
        "models, each weaker than `train`'s 6000 steps make; the curve's shape is what it shows)",
    )
    e.add_argument(
        "--minutes", type=float, help="time limit per model, for --learning-curve (default none)"
    )
    e.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    try:
        from export.evaluate import evaluate_cmd
    except ImportError as e:
        raise BadInput(
            f"evaluate needs the train extra ({e.name} is missing): {TRAIN_TOOLS}"
        ) from None
    return evaluate_cmd(a)

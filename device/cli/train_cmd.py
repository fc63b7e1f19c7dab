"""`scopecount train FOLDER --out FILE`: teach a new object from a training folder (the work is
export/train.py, with torch: imported when the command runs)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from device.cli.options import Subcommands, add_threads_option
from device.core.errors import BadInput

if TYPE_CHECKING:
    from export.train_report import TrainReport

# A model whose training-image error is over this fraction of the mean count is called weak.
WEAK_REL_ERROR = 0.2
# From a clone, the train extra with PyTorch's CPU build (plain pip would pull the CUDA one, GBs).
TRAIN_TOOLS = (
    "in the clone, `make train-tools` (or .venv/bin/pip install -e '.[train]' "
    "--extra-index-url https://download.pytorch.org/whl/cpu)"
)


def register(sub: Subcommands) -> None:
    t = sub.add_parser(
        "train",
        help="teach a new object from a training folder",
        description="Train from scratch on FOLDER, export ONNX, quantize to int8 (calibrated on "
        "the training images), check int8 against float, write --out plus a .float.onnx, a "
        ".report.json and a .curve.png beside it. The task comes from the folder: images/ + "
        "points.csv teaches counting; images/ + masks/ (one PNG label image per image: with a "
        "classes.csv of value,class, 0 is unlabelled so scribbles are enough; without one, 255 "
        "is the class and 0 background) teaches areas; images/ + landmarks.csv "
        "(image,landmark,x,y) teaches landmarks.",
    )
    t.add_argument("folder", metavar="FOLDER")
    t.add_argument("--out", required=True, metavar="FILE", help="the int8 model to write (.onnx)")
    t.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps (default 6000 for counting: 2-5 minutes on a 2-core laptop, about "
        "twice that with the zoom check; 6000 for areas, about 10 minutes; 4000 for "
        "landmarks): the same folder, seed and steps give the same model on a quiet or a busy "
        "machine",
    )
    t.add_argument(
        "--minutes",
        type=float,
        help="stop after this many minutes even if the steps are not done (the model then "
        "says so in its metadata); default: no limit",
    )
    t.add_argument(
        "--object-size", type=float, help="counting: object diameter in pixels (default: measured)"
    )
    t.add_argument(
        "--object-px",
        type=float,
        help="counting: size the network sees objects at, in its own pixels (default 32, or "
        "less when the cost budget asks for it)",
    )
    t.add_argument(
        "--budget-gmac",
        type=float,
        default=2.0,
        help="most multiply-accumulates (in billions) per 1280x960 camera frame (default 2.0); "
        "the input scale is lowered to fit it (a landmarks model reads each frame four times: "
        "the four share it); train prints the estimated seconds per frame on each Pi for the "
        "network design",
    )
    t.add_argument(
        "--arch",
        default="lite",
        choices=["lite", "unet"],
        help="counting: network design: lite (default; a 4x4 patch stem and depthwise-separable "
        "blocks, the lower held-out errors, about 0.7 s of inference per frame on a Pi 4 at 2 "
        "GMAC, estimated) or unet (full 3x3 convolutions, about 0.3 s, higher errors on small "
        "crowded cells)",
    )
    t.add_argument("--width", type=int, default=24, help="network width (default 24)")
    t.add_argument(
        "--scale",
        type=float,
        help="areas and landmarks: frame pixels -> network pixels (default 0.75 for areas, 0.5 "
        "for landmarks, lowered to fit the cost budget); texture finer than 2 px at this scale "
        "is lost",
    )
    # Training threads: any count the trainer accepts reaches it (it says what is allowed).
    add_threads_option(
        t,
        "CPU threads for training (default 1, fixed: the same settings give the same model; "
        "beside a busy program one thread keeps its pace, two took about twice their quiet "
        "time; on a quiet 2-core machine two trained areas up to 1.3x and landmarks 1.1x "
        "faster, counting no faster; another count makes a different, equally good model)",
        default=1,
        type=int,
    )
    t.add_argument("--name", help="model name stored in the file (default: file name)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    t.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the random choices (patches, the zoom check's held-back images); default 0",
    )
    t.add_argument(
        "--no-zoom-range",
        dest="zoom_range",
        action="store_false",
        help="counting: skip the zoom check (by default a quarter of the images at the folder's "
        "main zoom, at least 2, are held back; a first model trained on the rest counts them "
        "at 0.5x to 2x; the zooms where its mean relative error "
        "stays within max(4%%, its 1x error + 3 percentage points) go into the model, and the "
        "bench flags frames outside them `zoom`; it about doubles the training time; folders of "
        "fewer than 4 images skip it)",
    )
    t.set_defaults(func=run)


def int8_note(k: float) -> str:
    """How the int8 model's count scale differs from the float one's, in words."""
    if abs(k - 1.0) < 0.0005:
        return "int8 counts as float does"
    more = "below" if k > 1 else "above"
    return f"int8 counted {abs(1 - 1 / k) * 100:.1f}% {more} float, corrected"


def run(a: argparse.Namespace) -> int:
    from pathlib import Path

    from device.core.writable import writable_file

    writable_file(a.out, "--out")  # before torch loads (seconds) and training (minutes)
    if (Path(a.folder) / "masks").is_dir():
        from device.cli.train_areas_cmd import run_areas

        return run_areas(a, TRAIN_TOOLS)
    if (Path(a.folder) / "landmarks.csv").is_file():
        from device.cli.train_landmarks_cmd import run_landmarks

        return run_landmarks(a, TRAIN_TOOLS)
    if a.scale is not None:
        raise BadInput(f"--scale {a.scale}: for areas and landmarks folders only")
    try:
        from export.train import TrainOptions, TrainRefused, train
    except ImportError as e:
        raise BadInput(
            f"train needs the train extra ({e.name} is missing): {TRAIN_TOOLS}"
        ) from None

    opts = TrainOptions(
        steps=a.steps if a.steps is not None else TrainOptions.steps,  # the task's default
        minutes=a.minutes,
        object_size=a.object_size,
        **({"object_px": a.object_px} if a.object_px is not None else {}),
        budget_gmac=a.budget_gmac,
        arch=a.arch,
        width=a.width,
        threads=a.threads,
        name=a.name,
        device=a.device,
        seed=a.seed,
        zoom_range=a.zoom_range,
    )
    try:
        rep = train(a.folder, a.out, opts)
    except TrainRefused as e:
        print(f"scopecount: refused: {e}", file=sys.stderr)
        return 1
    say_trained(rep)
    return warn_weak(rep, a.out)


def say_trained(rep: TrainReport) -> None:
    """What was written, what a frame costs, the count correction and the training figures."""
    from device.measuring.pi_cost import describe

    gmac = rep.macs_per_frame / 1e9
    print(
        f"wrote {rep.model} ({rep.int8_bytes / 1024:.0f} KB int8; float "
        f"{rep.float_bytes / 1024:.0f} KB at {rep.float_model})\n"
        f"  cost: {gmac:.2f} GMAC per {rep.frame} frame; estimated {describe(gmac, rep.arch)}"
        f"\n  count correction x{rep.count_scale:.3f} (int8 x{rep.count_scale_int8:.3f}: "
        f"{int8_note(rep.count_scale_int8 / rep.count_scale)})"
        f"\n    (every count is multiplied by this, fitted so that the model's counts of your "
        f"training images match your marks on average; 1.000 = no correction)"
        f"\n  int8 vs float counts, image by image: {rep.int8_vs_float * 100:.2f}%; "
        f"training-image MAE {rep.train_mae:.2f}; {rep.steps} steps; {rep.seconds:.0f} s"
    )
    if rep.zoom_range is not None:
        print(
            f"  zoom range: {rep.zoom_range['text']}; frames whose objects measure outside it "
            "are flagged zoom"
        )
    else:  # skipped (--no-zoom-range), too few images, or the first model failed (said why)
        from device.measuring.zoom import RULE

        print(f"  zoom range: not measured; {RULE} (the one rule for every model)")
    for sig in rep.removed_signatures or []:
        print(f"  removed {sig}: it signed the model this one replaces (sign the new one again)")


def warn_weak(rep: TrainReport, out: str) -> int:
    """A weak model is said on stderr; one that learnt nothing fails the command (exit 1)."""
    if rep.learnt and rep.train_rel_error > WEAK_REL_ERROR:
        print(
            f"scopecount: warning: {out}: a weak model: its error on its own training images is "
            f"{rep.train_rel_error * 100:.0f}% of the mean count; held-out images do worse. "
            "More steps or more annotated images help; `evaluate` on images it never saw says "
            "how far to trust it",
            file=sys.stderr,
        )
    if not rep.learnt:
        print(
            f"scopecount: {out}: this model has NOT learnt to count (training-image MAE "
            f"{rep.train_mae:.1f}, close to counting nothing): more steps or more annotated "
            "images; the file says so and `model install` warns",
            file=sys.stderr,
        )
        return 1
    return 0

"""`scopecount train` on a landmarks folder (images/ + landmarks.csv): the work is
export/landmark_train.py."""

from __future__ import annotations

import argparse
import sys

from device.core.errors import BadInput


def run_landmarks(a: argparse.Namespace, tools: str) -> int:
    try:
        from export.landmark_train import DEFAULT_LANDMARK_STEPS, train_landmarks
        from export.train_options import TrainOptions, TrainRefused
    except ImportError as e:
        raise BadInput(f"train needs the train extra ({e.name} is missing): {tools}") from None
    if a.object_size is not None or a.object_px is not None:
        raise BadInput("--object-size/--object-px: for counting folders; landmarks take --scale")
    if a.scale is not None and not 0.05 <= a.scale <= 4.0:
        raise BadInput(f"--scale {a.scale}: must be 0.05 to 4")
    opts = TrainOptions(
        steps=a.steps if a.steps is not None else DEFAULT_LANDMARK_STEPS,
        minutes=a.minutes,
        budget_gmac=a.budget_gmac,
        width=a.width,
        threads=a.threads,
        name=a.name,
        device=a.device,
        seed=a.seed,
        zoom_range=False,
    )
    try:
        rep = train_landmarks(a.folder, a.out, opts, a.scale)
    except TrainRefused as e:
        print(f"scopecount: refused: {e}", file=sys.stderr)
        return 1
    from device.measuring.pi_cost import describe

    gmac = rep.macs_per_frame / 1e9
    print(
        f"wrote {rep.model} ({(rep.int8_bytes or 0) / 1024:.0f} KB int8; float "
        f"{(rep.float_bytes or 0) / 1024:.0f} KB at {rep.float_model})\n"
        f"  task landmarks: {len(rep.landmarks)} landmarks; scale {rep.input_scale}\n"
        f"  cost: {gmac:.2f} GMAC per {rep.frame} frame; estimated {describe(gmac, 'lite')}\n"
        f"  int8 vs float: landmarks move {rep.int8_vs_float_px:.2f} px on average over the "
        "calibration images (at most 0.3 allowed)\n"
        f"  on its training images (optimistic; `evaluate` on others says how far to trust "
        f"it): {rep.train_error_px:.2f} px mean error; {rep.steps} steps; {rep.seconds:.0f} s"
    )
    for sig in rep.removed_signatures or []:
        print(f"  removed {sig}: it signed the model this one replaces (sign the new one again)")
    return 0

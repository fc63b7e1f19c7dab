"""`scopecount train` on an areas folder (images/ + masks/): the work is export/area_train.py."""

from __future__ import annotations

import argparse
import sys

from device.cli.task_options import task_options
from device.core.errors import BadInput


def run_areas(a: argparse.Namespace, tools: str) -> int:
    try:
        from export.area_train import DEFAULT_AREA_STEPS, train_areas
        from export.train_options import TrainRefused
    except ImportError as e:
        raise BadInput(f"train needs the train extra ({e.name} is missing): {tools}") from None
    opts = task_options(a, DEFAULT_AREA_STEPS, "areas")
    try:
        rep = train_areas(a.folder, a.out, opts, a.scale)
    except TrainRefused as e:
        print(f"scopecount: refused: {e}", file=sys.stderr)
        return 1
    from device.measuring.pi_cost import describe

    gmac = rep.macs_per_frame / 1e9
    err = ", ".join(f"{c} {v:.1f}" for c, v in rep.train_fraction_error_pp.items())
    dice = ", ".join(f"{c} {v:.3f}" for c, v in rep.train_dice.items())
    print(
        f"wrote {rep.model} ({(rep.int8_bytes or 0) / 1024:.0f} KB int8; float "
        f"{(rep.float_bytes or 0) / 1024:.0f} KB at {rep.float_model})\n"
        f"  task areas: classes {', '.join(rep.classes)}; scale {rep.input_scale}\n"
        f"  cost: {gmac:.2f} GMAC per {rep.frame} frame; estimated {describe(gmac, 'lite')}\n"
        f"  int8 vs float: a class's share moves {rep.int8_vs_float_pp:.2f} percentage points "
        f"on average over the calibration images (the worst class; at most 0.5 allowed)\n"
        f"  on its training images (optimistic; `evaluate` on others says how far to trust "
        f"it): fraction error {err} points, Dice {dice}; {rep.steps} steps; {rep.seconds:.0f} s"
    )
    for sig in rep.removed_signatures or []:
        print(f"  removed {sig}: it signed the model this one replaces (sign the new one again)")
    return 0

"""`scopecount train` on a landmarks folder (images/ + landmarks.csv): the work is
export/landmark_train.py."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from device.cli.task_options import task_options
from device.core.errors import BadInput


def run_landmarks(a: argparse.Namespace, tools: str) -> int:
    try:
        from export.landmark_train import (
            DEFAULT_LANDMARK_STEPS,
            float_parts_words,
            train_landmarks,
        )
        from export.train_options import TrainRefused
    except ImportError as e:
        raise BadInput(f"train needs the train extra ({e.name} is missing): {tools}") from None
    opts = task_options(a, DEFAULT_LANDMARK_STEPS, "landmarks")
    refused = None
    try:
        rep = asdict(train_landmarks(a.folder, a.out, opts, a.scale))
    except TrainRefused as e:  # int8 refused: the float model and the report are written
        refused = e
        report = Path(a.out).with_name(Path(a.out).stem + ".report.json")
        if not report.is_file():
            print(f"scopecount: refused: {e}", file=sys.stderr)
            return 1
        rep = json.loads(report.read_text())
    from device.measuring.pi_cost import describe

    gmac = rep["macs_per_frame"] / 1e9
    parts = rep.get("int8_float_parts")
    kept = f"; left float: {float_parts_words(parts)}" if parts and refused is None else ""
    wrote = (
        f"wrote {rep['model']} ({(rep.get('int8_bytes') or 0) / 1024:.0f} KB int8; float "
        f"{(rep.get('float_bytes') or 0) / 1024:.0f} KB at {rep['float_model']})"
        if refused is None
        else f"wrote {rep['float_model']} (float; no int8 model: below)"
    )
    print(
        f"{wrote}\n"
        f"  task landmarks: {len(rep['landmarks'])} landmarks; scale {rep['input_scale']}\n"
        f"  cost: {gmac:.2f} GMAC per {rep['frame']} frame; estimated {describe(gmac, 'lite')}\n"
        f"  int8 vs float: landmarks move {rep['int8_vs_float_px']:.2f} px on average over the "
        f"calibration images (at most 0.3 allowed){kept}\n"
        f"  on its training images (optimistic; `evaluate` on others says how far to trust "
        f"it): {rep['train_error_px']:.2f} px mean error, {rep['train_error_pct_wing']:.1f}% "
        f"of the wing length; {rep['steps']} steps; {rep['seconds']:.0f} s"
    )
    if not rep["learnt"]:
        print(
            "  WARNING: this model did NOT learn to place the landmarks (over 5% of the wing "
            "length on its own training wings): every result says so; train longer (--steps) "
            "or on more wings"
        )
    for sig in rep.get("removed_signatures") or []:
        print(f"  removed {sig}: it signed the model this one replaces (sign the new one again)")
    if refused is not None:
        print(f"scopecount: refused: {refused}", file=sys.stderr)
        return 1
    return 0

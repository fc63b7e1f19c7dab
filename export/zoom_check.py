"""`train`'s zoom check: a model trained on most of the images counts the ones held back at a
range of zooms (export/zoom_range.py); the range it counts well at goes into the final model,
which is then trained on all the images as before."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

import numpy as np

from device.core.errors import BadInput, ModelError
from device.core.progress import Progress
from device.core.text import printable
from device.measuring.counter import Counter
from device.measuring.zoom import RULE
from export.folder import TrainingFolder
from export.train_options import Int8Refused, TrainOptions, TrainRefused
from export.zoom_range import ZoomRange, measure

HOLD_BACK = 0.25  # of the images holding objects, at least MIN_HELD
MIN_HELD = 2
# A first model further off than this at the taught size says nothing about other zooms (the
# tolerance, its error + 3 points, would pass every zoom).
MAX_CHECK_ERROR = 0.25
MIN_IMAGES = 4  # fewer annotated images: no range is measured (the one rule for all applies)

TrainFn = Callable[[TrainingFolder, Path, TrainOptions], object]


def split(
    folder: TrainingFolder,
    seed: int,
    other_zoom: Collection[str] = (),
) -> tuple[list[str], list[str]] | None:
    """(trained on, held back), seeded; None when the folder is too small to hold any back.
    Only images at the folder's main zoom are held back (those at another zoom stay in
    training: the range is measured from 1x = the taught size)."""
    with_objects = sorted(
        s.name for s in folder.samples if s.count() > 0 and s.name not in other_zoom
    )
    if len(folder.samples) < MIN_IMAGES or len(with_objects) < MIN_HELD + 1:
        return None
    n = max(MIN_HELD, round(HOLD_BACK * len(with_objects)))
    rng = np.random.default_rng(seed)
    held = sorted(str(x) for x in rng.choice(with_objects, n, replace=False))
    return [s.name for s in folder.samples if s.name not in held], held


def held_back_range(
    folder: TrainingFolder, opts: TrainOptions, train_on: TrainFn
) -> ZoomRange | None:
    """Train on the rest, count the held-back images at each zoom; None (said why) where the
    folder is too small or that model could not be made."""
    other = {n for n, o in (opts.sizes[1] if opts.sizes else {}).items() if o}
    parts = split(folder, opts.seed, other)
    if parts is None:
        main = sum(1 for s in folder.samples if s.count() > 0 and s.name not in other)
        print(
            f"zoom range: not measured ({len(folder.samples)} images, {main} at the folder's "
            f"main zoom holding objects; it needs at least {MIN_IMAGES} images and "
            f"{MIN_HELD + 1} such): {RULE}; annotate more images at the zoom you use",
            file=sys.stderr,
        )
        return None
    rest, held = parts
    shown = ", ".join(printable(n) for n in held[:6]) + (" ..." if len(held) > 6 else "")
    print(
        f"zoom range: a first model on {len(rest)} images counts the {len(held)} held back "
        f"({shown}) at 0.5x to 2x; then the model on all images",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "held-back.onnx"
        try:
            try:
                first = replace(opts, name="zoom-check", checking_zoom=True)
                train_on(folder.subset(rest), out, first)
            except Int8Refused:  # the range of a float model is the one to go by then
                out = out.with_name("held-back.float.onnx")
            counter = Counter.from_file(out)
        except (TrainRefused, BadInput, ModelError) as e:
            print(f"zoom range: not measured ({e})", file=sys.stderr)
            return None
        bar = Progress("zoom range")
        zr = measure(counter, folder.subset(held).samples, progress=bar.update)
        bar.done()
    if zr.errors[1.0] > MAX_CHECK_ERROR:
        print(
            f"zoom range: not measured (the first model counts the held-back images "
            f"{zr.errors[1.0] * 100:.0f}% off at the taught size: too weak to tell where a "
            f"model counts well; more steps or more annotated images): {RULE}",
            file=sys.stderr,
        )
        return None
    return zr


def say_left_out(zr: ZoomRange, sizes: tuple[float, dict[str, float | None]]) -> None:
    """Training photographs at another zoom that the range leaves out: frames like them will be
    flagged `zoom` (more photographs at that zoom, or more steps, may widen it)."""
    size, own = sizes
    out = [n for n, o in own.items() if o and not zr.lo <= o / size <= zr.hi]
    if out:
        shown = ", ".join(f"{printable(n)} ({own[n] / size:.2f}x)" for n in out[:4])
        print(
            f"note: the zoom range leaves out {len(out)} training image(s) taken at another "
            f"zoom: {shown}; the bench will flag frames like them zoom",
            file=sys.stderr,
        )

"""`scopecount evaluate` for an areas model on an areas folder: per-class Dice and IoU, each
image's error of each class's share (percentage points), a predicted-vs-true scatter, overlays.

The model measures each image as the bench does (device/measuring/area_meter.py); only the
labelled pixels of a mask are compared (0 in a classes.csv mask is unlabelled).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.core.errors import BadInput
from device.core.imageio import encode, write_atomic
from device.core.progress import Progress
from device.core.text import printable, printable_path
from device.core.writable import writable_dir, writable_file
from device.measuring.area_overlay import draw_areas
from device.measuring.detector import Detector, open_detector_file
from export.area_metrics import AreaScores, score_images
from export.areas_folder import AreasFolder, read_areas_folder
from export.figures import model_warning, zooms_asked
from export.file_names import file_part


def model_labels(
    det: Detector, folder: AreasFolder
) -> tuple[list[np.ndarray], list[str], list[list[str]]]:
    """The model's label of every pixel of every image, in the folder's class order; the
    folder's classes the model does not know (their pixels can only be missed); each image's
    flags (`uncertain`)."""
    # Names as the folder reader compares them: in any case ("Gland" from QuPath is "gland").
    index = {c.casefold(): k + 1 for k, c in enumerate(folder.classes)}
    lut = np.zeros(256, np.int64)
    for k, c in enumerate(det.info.classes):
        lut[k + 1] = index.get(c.casefold(), 0)  # a class the folder lacks: counted background
    known = {c.casefold() for c in det.info.classes}
    missing = [c for c in folder.classes if c.casefold() not in known]
    if len(missing) == len(folder.classes):
        raise BadInput(
            f"{det.where}: measures {', '.join(det.info.classes)}; {folder.root} holds "
            f"{', '.join(folder.classes)}: no class in common to compare"
        )
    if missing:
        print(
            f"warning: {det.name} does not know {', '.join(missing)}: their pixels can only "
            "be missed (Dice 0)",
            file=sys.stderr,
        )
    preds, flags = [], []
    bar = Progress("evaluate")
    for i, s in enumerate(folder.samples):
        res = det.measure(s.image())
        if res.class_map is None:
            raise BadInput(f"{det.where}: not an areas model (task {det.task})")
        preds.append(lut[res.class_map])
        flags.append(list(res.flags))
        bar.update((i + 1) / len(folder.samples), s.name)
    bar.done(f"{len(folder.samples)} images")
    return preds, missing, flags


@dataclass(frozen=True)
class AreasEvaluation:
    scores: AreaScores
    preds: list[np.ndarray]
    flags: list[list[str]]  # each image's, as the bench would record them

    @property
    def flagged(self) -> list[bool]:
        """Per image: would the bench flag it `uncertain`."""
        return ["uncertain" in f for f in self.flags]

    def unflagged_error(self, cls: str) -> float | None:
        """The mean share error over the images the bench would not flag `uncertain`."""
        errs = self.scores.fraction_errors[cls]
        kept = [e for e, f in zip(errs, self.flagged, strict=True) if not f and np.isfinite(e)]
        return float(np.mean(kept)) if kept else None

    @property
    def n_flagged(self) -> int:
        return sum(self.flagged)


def evaluate_areas(det: Detector, folder: AreasFolder) -> AreasEvaluation:
    preds, _missing, flags = model_labels(det, folder)
    truths = [s.labels() for s in folder.samples]
    return AreasEvaluation(score_images(preds, truths, folder.classes), preds, flags)


def _num(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _shares(labels: np.ndarray, n: int) -> np.ndarray:
    ok = labels >= 0
    counts = np.bincount(labels[ok].ravel(), minlength=n + 1)
    return counts / max(1, int(ok.sum()))


def evaluate_areas_cmd(a: argparse.Namespace) -> int:
    from export import plots

    if a.learning_curve:
        raise BadInput(f"{a.folder}: --learning-curve is for counting folders (points.csv)")
    if zooms_asked(getattr(a, "zooms", None)):  # no objects to measure a zoom by
        raise BadInput(
            "--zooms: for counting folders (points.csv); an areas model has no zoom range"
        )
    folder = read_areas_folder(a.folder)
    if not folder.samples:
        raise BadInput(f"{a.folder}: no image has a mask: nothing to evaluate")
    model = Path(os.path.abspath(a.model))
    if not model.is_file():
        raise BadInput(f"--model {printable_path(model)}: no such file")
    name = folder.root.resolve().name
    default = model.parent / f"{file_part(model.stem)}_on_{file_part(name)}_scatter.png"
    plot = Path(os.path.abspath(writable_file(a.plot or default, "--plot")))
    overlays = writable_dir(Path(a.overlays), "--overlays") if a.overlays else None
    det = open_detector_file(model)
    if det.task != "areas":
        raise BadInput(
            f"--model {printable_path(model)}: a {det.task} model; {a.folder} is an "
            "areas folder (masks/)"
        )
    ev = evaluate_areas(det, folder)
    scores, preds = ev.scores, ev.preds
    n = len(folder.classes)
    truths = [s.labels() for s in folder.samples]
    t_sh = [_shares(t, n) for t in truths]
    p_sh = [_shares(np.where(t >= 0, p, -1), n) for p, t in zip(preds, truths, strict=True)]
    per_image = [
        {"image": s.name}
        | {f"true_{c}": round(float(t[k + 1]), 4) for k, c in enumerate(folder.classes)}
        | {f"pred_{c}": round(float(p[k + 1]), 4) for k, c in enumerate(folder.classes)}
        | {"flags": f}
        for s, t, p, f in zip(folder.samples, t_sh, p_sh, ev.flags, strict=True)
    ]
    plots.fraction_scatter(
        {c: [float(t[k + 1]) for t in t_sh] for k, c in enumerate(folder.classes)},
        {c: [float(p[k + 1]) for p in p_sh] for k, c in enumerate(folder.classes)},
        plot,
        f"{det.name} on {name}",
        ev.flagged,
    )
    if overlays is not None:
        for s, p, f in zip(folder.samples, preds, ev.flags, strict=True):
            rgb = s.image()
            areas = {c: float((p == k + 1).mean()) for k, c in enumerate(folder.classes)}
            pic = draw_areas(rgb, p.astype(np.uint8), areas, folder.classes, f)
            write_atomic(
                overlays / f"{file_part(Path(s.name).stem)}_overlay.png", encode(pic, ".png")
            )
    out = scores.to_json() | {"images": len(folder.samples), "per_image": per_image}
    out |= {
        "flagged_uncertain": ev.n_flagged,
        "fraction_error_unflagged": {c: _num(ev.unflagged_error(c)) for c in folder.classes},
    }
    out |= model_warning(printable_path(model), det.info.warning)
    if a.json:
        print(json.dumps(out))
        return 0
    print(f"{printable(name)}: {len(folder.samples)} images, model {printable(det.name)}")
    partial = sum(bool((t < 0).any()) for t in truths)
    if partial:
        print(
            f"  note: {partial} of the masks are partly unlabelled (scribbles): their shares "
            "are over the labelled pixels only, not the whole image's"
        )
    for c in folder.classes:
        print(
            f"  {printable(c)}: share error {scores.fraction_error[c]:.2f} points per image "
            f"(always answering the mean share of these images: "
            f"{scores.baseline_error[c]:.2f}); Dice "
            f"{scores.dice[c]:.3f} per image, {scores.pooled_dice[c]:.3f} pooled; IoU "
            f"{scores.pooled_iou[c]:.3f} pooled"
        )
    print(f"  {_flagged_line(ev, folder)}")
    print(f"plot: {printable_path(plot)}", file=sys.stderr)
    if overlays is not None:
        print(f"overlays: {printable_path(overlays)}", file=sys.stderr)
    return 0


def _flagged_line(ev: AreasEvaluation, folder: AreasFolder) -> str:
    """Which images the bench would flag `uncertain` (much of the frame between classes) and
    the share error of the rest: said even when none are, so that none reads as checked."""
    head = "flagged uncertain (the bench leaves them out of its summaries):"
    if not ev.n_flagged:
        return f"{head} none of {len(folder.samples)} images"
    pairs = zip(folder.samples, ev.flagged, strict=True)
    names = [printable(s.name) for s, f in pairs if f]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    rest = ", ".join(
        f"{printable(c)} {v:.2f}"
        if (v := ev.unflagged_error(c)) is not None
        else f"{printable(c)} n/a"
        for c in folder.classes
    )
    return (
        f"{head} {ev.n_flagged} of {len(folder.samples)} images ({shown}); share error of the "
        f"rest: {rest} points"
    )

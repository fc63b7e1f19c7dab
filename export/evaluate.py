"""`scopecount evaluate`: a model against a training folder, or a learning curve."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import numpy as np

from device.core.csvsafe import csv_line
from device.core.errors import BadInput
from device.core.progress import Progress
from device.core.text import printable, printable_path
from device.core.writable import writable_file
from device.measuring.counter import Counter
from device.measuring.preprocess import rescale
from export.figures import fmt, model_warning, zooms_asked
from export.file_names import file_part
from export.folder import HEADER, TrainingFolder, read_folder
from export.metrics import count_metrics, match_points, prf


def _flagged(m: dict) -> str:
    """Frames the bench would flag `zoom` at the folder's own zoom, and the error of the rest."""
    if not m.get("flagged_zoom"):
        return ""
    rest = fmt(m["mre_unflagged"], ".2f", 100, "%")
    return f"; {m['flagged_zoom']} of {m['images']} flagged zoom (the rest {rest})"


def default_radius(counter: Counter) -> float:
    """Half the model's object size, at least 3 px (what --radius's help says)."""
    return max(3.0, counter.info.object_size_px / 2)


def _over(m: dict) -> str:
    """Relative error is over the images that hold objects: say so when some hold none."""
    empty = sum(1 for r in m.get("per_image", []) if r["true"] == 0)
    if not empty:
        return ""
    return f" (over the {m['images'] - empty} of {m['images']} images that hold objects)"


def evaluate_model(
    counter: Counter, folder: TrainingFolder, radius: float | None = None, zoom: float = 1.0
) -> dict:
    """Counts and points against the annotations; `zoom` resizes every image first (the
    annotations with it), as a turned zoom knob would."""
    classes = counter.info.classes
    missing = [c for c in folder.classes if c not in classes]
    if missing:
        raise BadInput(
            f"{folder.root / 'points.csv'}: label {missing[0]!r} is not one of the model's "
            f"classes {classes}"
        )
    r = (radius or default_radius(counter)) * zoom
    true, pred, rows = [], [], []
    tp = fp = fn = 0
    bar = Progress("evaluate")
    for i, s in enumerate(folder.samples):
        # As if the zoom knob had been turned: the same resize the bench applies to frames.
        res = counter.count(rescale(s.image(), zoom))
        t_img = s.count()
        p_img = sum(res.counts.values())
        true.append(t_img)
        pred.append(p_img)
        for c in classes:
            tpts = np.array([[x * zoom, y * zoom] for x, y, lab in s.points if lab == c])
            tpts = tpts.reshape(-1, 2)
            ppts = np.array([[x, y] for x, y, lab in res.points if lab == c]).reshape(-1, 2)
            a, b, d = match_points(tpts, ppts, r)
            tp, fp, fn = tp + a, fp + b, fn + d
        rows.append(
            {
                "image": s.name,
                "true": t_img,
                "pred": p_img,
                "counts": res.counts,
                "zoom_measured": res.zoom,
                "rescaled": res.rescaled,
                "flags": res.flags,
            }
        )
        bar.update((i + 1) / len(folder.samples), s.name)
    bar.done()
    out = {"folder": str(folder.root), "model": counter.name, "model_sha256": counter.sha256}
    out |= {"images": len(folder.samples), "radius": r, "zoom": zoom}
    out["rescaled"] = sum(1 for row in rows if row["rescaled"])
    out |= count_metrics(true, pred) | prf(tp, fp, fn)
    # What the bench would report: frames outside the model's zoom range carry `zoom`.
    kept = [r for r in rows if "zoom" not in r["flags"]]
    out["flagged_zoom"] = len(rows) - len(kept)
    out["mre_unflagged"] = (
        count_metrics([r["true"] for r in kept], [r["pred"] for r in kept])["mre"] if kept else None
    )
    out["per_image"] = rows
    return out


def learning_curve(
    folder: TrainingFolder, steps: int, minutes: float | None = None, seed: int = 0
) -> list[dict]:
    from export.train import TrainOptions, train

    rng = np.random.default_rng(seed)
    order = [folder.samples[i].name for i in rng.permutation(len(folder.samples))]
    n_test = max(1, len(order) * 3 // 10)
    test, pool = folder.subset(order[:n_test]), order[n_test:]
    if not pool:
        raise BadInput(f"{folder.root}: a learning curve needs at least 2 images")
    if n_test < 2:
        print(
            f"warning: {len(order)} images: only {n_test} held out for testing, so each point "
            "of the curve is one image's error (7 or more images hold out at least 2)",
            file=sys.stderr,
        )
    sizes = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n < len(pool)] + [len(pool)]
    rows = []
    name = folder.root.resolve().name
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            sub_dir = Path(tmp) / f"train{n}"
            _link_subset(folder, pool[:n], sub_dir)
            out = Path(tmp) / f"m{n}.onnx"
            # train() names its folder in its log: show the user's folder, not our temp copy.
            with contextlib.redirect_stderr(_Relabel(sys.stderr, tmp, f"{name}[{n} images]")):
                train(
                    sub_dir,
                    out,
                    TrainOptions(steps=steps, minutes=minutes, seed=seed, zoom_range=False),
                )
            m = evaluate_model(Counter.from_file(out), test)
            err = [abs(r["pred"] - r["true"]) for r in m["per_image"]]
            rows.append(
                {
                    "train_images": n,
                    "test_images": n_test,
                    "mae": m["mae"],
                    "mre": m["mre"],
                    # the spread over the held-out images, shown as the plot's error bars
                    "abs_err_min": float(min(err)),
                    "abs_err_max": float(max(err)),
                }
            )
            print(
                f"{n:4d} training images: MAE {m['mae']:.2f} (held-out images "
                f"{min(err):.1f} to {max(err):.1f}), MRE {fmt(m['mre'], '.1f', 100, '%')}"
            )
    return rows


class _Relabel(io.TextIOBase):
    """A stderr that writes `label` where `prefix` (a temp folder) would appear."""

    def __init__(self, stream: TextIO, prefix: str, label: str) -> None:
        self.stream, self.prefix, self.label = stream, prefix, label

    def write(self, text: str) -> int:
        self.stream.write(re.sub(re.escape(self.prefix) + r"(/[^\s:,()]*)?", self.label, text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def _link_subset(folder: TrainingFolder, names: list[str], dest: Path) -> None:
    """A training folder made of links to some of another's images (nothing is copied)."""
    (dest / "images").mkdir(parents=True)
    keep = set(names)
    lines = [csv_line(HEADER)]
    for s in folder.samples:
        if s.name in keep:
            (dest / "images" / s.name).symlink_to(s.path.resolve())
            lines += [csv_line([s.name, x, y, lab]) for x, y, lab in s.points]
    (dest / "points.csv").write_text("".join(lines))


def evaluate_cmd(a: argparse.Namespace) -> int:
    from export import plots
    from export.areas_folder import is_areas_folder

    try:
        is_areas = is_areas_folder(a.folder)
        is_landmarks = not is_areas and (Path(a.folder) / "landmarks.csv").is_file()
    except OSError as e:  # a name too long for the filesystem, say
        raise BadInput(f"{printable_path(a.folder)}: {e.strerror or e}") from None
    turn, mirror = getattr(a, "turn", None), getattr(a, "mirror", False)
    given = [o for o, on in (("--turn", turn is not None), ("--mirror", mirror)) if on]
    if given and not is_landmarks and os.path.isdir(a.folder):  # else: the folder's own error
        raise BadInput(f"{' and '.join(given)}: for landmarks folders (images/ + landmarks.csv)")
    if is_areas:  # images/ + masks/: the areas task's figures
        from export.area_evaluate import evaluate_areas_cmd

        return evaluate_areas_cmd(a)
    if is_landmarks:
        from export.landmark_evaluate import evaluate_landmarks_cmd

        return evaluate_landmarks_cmd(a)
    if getattr(a, "overlays", None):
        raise BadInput(
            "--overlays: for areas folders (images/ + masks/); counting uses `count --overlay`"
        )

    if a.learning_curve and zooms_asked(getattr(a, "zooms", None)):
        raise BadInput("--zooms: for a model (--model), not --learning-curve")
    folder = read_folder(a.folder)
    folder.require_annotated("nothing to evaluate")
    name = folder.root.resolve().name
    # Checked before the work, so a typo costs seconds, not an evaluation or a training run.
    # Plots go beside what they describe (never into whatever folder the shell is in), named
    # from parts of file names made safe (a folder or model name is data, not a path).
    if a.learning_curve:
        default = folder.root.resolve().parent / f"{file_part(name)}_learning_curve.png"
    else:
        model = Path(os.path.abspath(a.model))
        if not model.is_file():
            raise BadInput(f"--model {printable_path(model)}: no such file")
        default = model.parent / f"{file_part(model.stem)}_on_{file_part(name)}_scatter.png"
    plot = Path(os.path.abspath(writable_file(a.plot or default, "--plot")))
    if a.learning_curve:
        rows = learning_curve(folder, a.steps, a.minutes)
        plots.learning_curve(rows, plot, f"learning curve: {name}")
        if a.json:
            print(json.dumps({"folder": str(folder.root), "learning_curve": rows}))
        print(f"plot: {printable_path(plot)}", file=sys.stderr)
        return 0
    from device.measuring.detector import open_detector_file

    counter = open_detector_file(a.model)
    if not isinstance(counter, Counter):
        raise BadInput(
            f"--model {printable_path(a.model)}: an {counter.task} model; {a.folder} is a "
            "counting folder (points.csv): evaluate it on an areas folder (images/ + masks/)"
        )
    m = evaluate_model(counter, folder, a.radius)
    title = f"{counter.name} on {name}: MAE {m['mae']:.2f}"
    plots.scatter(
        [r["true"] for r in m["per_image"]], [r["pred"] for r in m["per_image"]], plot, title
    )
    others = [z for z in a.zooms if z != 1.0]
    if counter.info.zoom is not None:
        m["zoom_range"] = [counter.info.zoom.flag_lo, counter.info.zoom.flag_hi]
    if others:
        m["at_zoom"] = [
            {
                k: v
                for k, v in evaluate_model(counter, folder, a.radius, z).items()
                if k != "per_image"
            }
            for z in others
        ]
    m |= model_warning(printable_path(a.model), counter.info.warning)
    if a.json:
        print(json.dumps(m))
    else:
        print(
            f"{printable(name)}: {m['images']} images, MAE {m['mae']:.2f}, RMSE {m['rmse']:.2f}, "
            f"mean relative error {fmt(m['mre'], '.2f', 100, '%')}{_over(m)}, "
            f"bias {m['bias']:+.2f}{_flagged(m)}\n"
            f"points within {m['radius']:.1f} px: precision {fmt(m['precision'])}, "
            f"recall {fmt(m['recall'])}, F1 {fmt(m['f1'])}\nplot: {printable_path(plot)}"
        )
        ref = counter.info.zoom
        if m.get("at_zoom") and ref is not None:
            print(
                f"  the model's zoom range: {ref.flag_lo:.2f}x to {ref.flag_hi:.2f}x the taught "
                "size (frames whose objects measure outside it are flagged zoom)"
                + ("" if ref.measured else "; not measured: the one rule for every model")
            )
        for z in m.get("at_zoom", []):
            print(
                f"  at {z['zoom']:g}x zoom: MAE {z['mae']:.2f}, mean relative error "
                f"{fmt(z['mre'], '.2f', 100, '%')}, bias {z['bias']:+.2f} "
                f"({z['rescaled']} of {z['images']} images recounted at the taught size; "
                f"{z['flagged_zoom']} flagged zoom, the rest "
                f"{fmt(z['mre_unflagged'], '.2f', 100, '%')})"
            )
    return 0

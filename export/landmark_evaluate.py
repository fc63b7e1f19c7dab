"""`scopecount evaluate` on a landmarks folder (images/ + landmarks.csv): the model on every
image as the bench measures a frame, scored against the hand-placed landmarks
(export/landmark_metrics.py), with an overlay per image on request. `turned` makes the copies
the benchmark also scores: turned by any angle (canvas enlarged, borders replicated) or
mirrored, the landmarks moved with them."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from device import MAX_IMAGE_PIXELS
from device.core.errors import BadInput
from device.core.imageio import encode, write_atomic
from device.core.text import amount, printable, printable_path
from device.core.writable import writable_dir
from device.measuring.detector import Detector, open_detector_file
from device.measuring.landmark_overlay import draw_landmarks
from export.figures import fmt, model_warning, zooms_asked
from export.file_names import file_part
from export.landmark_metrics import LandmarkScores, score_landmarks
from export.landmarks_folder import LandmarkSample, LandmarksFolder, read_landmarks_folder

# `--turn`: degrees counter-clockwise, or "random" (a seeded angle per image); None: upright.
Turn = float | Literal["random"] | None


class TooLarge(ValueError):
    """A turned copy over the pixel limit images have (MAX_IMAGE_PIXELS)."""


def turned(rgb: np.ndarray, pts: np.ndarray, angle: float, mirror: bool = False):
    """The image turned by `angle` degrees about its centre on a canvas large enough to hold
    all of it (borders replicated), mirrored first if asked; the landmarks moved alike."""
    h, w = rgb.shape[:2]
    if mirror:
        rgb = np.ascontiguousarray(rgb[:, ::-1])
        pts = pts.copy()
        pts[:, 0] = (w - 1) - pts[:, 0]
    c = ((w - 1) / 2, (h - 1) / 2)
    m = cv2.getRotationMatrix2D(c, angle, 1.0)
    # rounded: sin(180 deg) computes as 1e-16, not 0, and ceil would add a pixel to the canvas
    cos, sin = round(abs(m[0, 0]), 9), round(abs(m[0, 1]), 9)
    nw, nh = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    if nw * nh > MAX_IMAGE_PIXELS:  # a long strip turned 45 degrees: a canvas of its length squared
        raise TooLarge(f"turned by {angle:g} degrees it needs a {nw}x{nh} canvas")
    m[0, 2] += (nw - 1) / 2 - c[0]
    m[1, 2] += (nh - 1) / 2 - c[1]
    out = cv2.warpAffine(rgb, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out, pts @ m[:, :2].T + m[:, 2]


def predict(det: Detector, rgb: np.ndarray) -> np.ndarray:
    res = det.measure(rgb)
    return np.array([p if p is not None else (np.nan, np.nan) for p in res.landmarks], float)


def image_angles(count: int, turn: Turn) -> list[float | None]:
    """Each image's angle in degrees (None: not turned); "random" draws the same seeded angles
    on every pass."""
    if turn is None:
        return [None] * count
    if turn == "random":
        rng = np.random.default_rng(0)
        return [float(rng.uniform(0, 360)) for _ in range(count)]
    return [float(turn)] * count


def views_of(
    folder: LandmarksFolder, turn: Turn = None, mirror: bool = False
) -> Iterator[tuple[LandmarkSample, np.ndarray, np.ndarray]]:
    """Each sample, its image and its landmarks as scored: turned as `image_angles` says,
    mirrored if asked."""
    for s, angle in zip(folder.samples, image_angles(len(folder.samples), turn), strict=True):
        rgb, pts = s.image(), s.points
        if angle is not None or mirror:
            try:
                rgb, pts = turned(rgb, pts, angle or 0.0, mirror)
            except TooLarge as e:
                raise BadInput(
                    f"{printable(s.name)}: {e} (over {MAX_IMAGE_PIXELS} pixels)"
                ) from None
        yield s, rgb, pts


Seen = Callable[[LandmarkSample, np.ndarray, np.ndarray, np.ndarray], None]


def evaluate_landmarks(
    det: Detector,
    folder: LandmarksFolder,
    turn: Turn = None,
    mirror: bool = False,
    each: Seen | None = None,
) -> tuple[LandmarkScores, list[np.ndarray], list[np.ndarray]]:
    """Scores over the folder's images as `views_of` gives them, the predictions and the
    hand-placed landmarks in those images; `each(sample, image, hand, predicted)` sees every
    image as scored (overlays), so that none is read or turned twice."""
    preds, truths = [], []
    for s, rgb, pts in views_of(folder, turn, mirror):
        preds.append(predict(det, rgb))
        truths.append(pts)
        if each is not None:
            each(s, rgb, pts, preds[-1])
    return score_landmarks(preds, truths, folder.names), preds, truths


def write_overlay(
    out: Path,
    seen: dict[str, int],
    s: LandmarkSample,
    rgb: np.ndarray,
    hand: np.ndarray,
    found: np.ndarray,
) -> None:
    """One image as scored with the model's landmarks and the hand-placed ones drawn over it;
    `seen` counts the stems written (a.png and a.jpg: a_overlay, a-2_overlay)."""
    pts = [None if not np.isfinite(q).all() else (q[0], q[1]) for q in found]
    truth = [None if not np.isfinite(q).all() else (q[0], q[1]) for q in hand]
    pic = draw_landmarks(rgb, pts, None, None, truth=truth)
    stem = file_part(Path(s.name).stem)
    seen[stem] = seen.get(stem, 0) + 1
    name = f"{stem}_overlay.png" if seen[stem] == 1 else f"{stem}-{seen[stem]}_overlay.png"
    write_atomic(out / name, encode(pic, ".png"))


def evaluate_landmarks_cmd(a: argparse.Namespace) -> int:
    if a.learning_curve:
        where = printable_path(a.folder)
        raise BadInput(f"{where}: --learning-curve is for counting folders (points.csv)")
    asked = {
        "--plot": bool(getattr(a, "plot", None)),
        "--zooms": zooms_asked(getattr(a, "zooms", None)),
    }
    given = [o for o, on in asked.items() if on]
    if given:
        raise BadInput(
            f"{' and '.join(given)}: for counting folders (--plot for areas too); landmarks "
            "folders give figures per landmark and --overlays"
        )
    if getattr(a, "radius", None) is not None:
        raise BadInput("--radius: for counting folders (points are matched within it)")
    folder = read_landmarks_folder(a.folder)
    if not folder.samples:
        raise BadInput(f"{printable_path(a.folder)}: no image has landmarks: nothing to evaluate")
    model = Path(os.path.abspath(a.model))
    if not model.is_file():
        raise BadInput(f"--model {printable_path(model)}: no such file")
    overlays = writable_dir(Path(a.overlays), "--overlays") if a.overlays else None
    det = open_detector_file(model)
    if det.task != "landmarks":
        raise BadInput(
            f"--model {printable_path(model)}: a {det.task} model; {printable_path(a.folder)} "
            "is a landmarks folder (landmarks.csv)"
        )
    if len(det.info.classes) != len(folder.names):
        raise BadInput(
            f"--model {printable_path(model)}: places {len(det.info.classes)} landmarks, "
            f"{printable_path(a.folder)} has {len(folder.names)}"
        )
    turn, mirror = getattr(a, "turn", None), bool(getattr(a, "mirror", False))
    each = partial(write_overlay, overlays, {}) if overlays is not None else None
    scores, preds, truths = evaluate_landmarks(det, folder, turn, mirror, each)
    shown = (
        [] if turn is None else ["turned randomly" if turn == "random" else f"turned {turn:g} deg"]
    )
    shown += ["mirrored"] if mirror else []
    per_image = []
    angles = image_angles(len(folder.samples), turn)
    for s, p, truth, deg in zip(folder.samples, preds, truths, angles, strict=True):
        d = np.linalg.norm(p - truth, axis=1)
        mean = float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")
        # where the model put each landmark, in the pixels of the image as scored (turned or
        # mirrored where asked), null where it found none
        placed = [None if not np.isfinite(q).all() else [round(float(v), 2) for v in q] for q in p]
        per_image.append(
            {
                "image": s.name,
                "mean_px": round(mean, 3) if d.size else None,
                "turn_degrees": deg,
                "landmarks": placed,
            }
        )
        if not np.isfinite(mean):
            per_image[-1]["mean_px"] = None  # no landmark both placed and found
    warned = model_warning(printable_path(model), det.info.warning)
    if a.json:
        # one type per key: a fixed angle in degrees or null, and whether each image drew its own
        fixed = None if turn in (None, "random") else turn
        view = {"turn_degrees": fixed, "turn_random": turn == "random", "mirror": mirror}
        out = scores.to_json() | view | {"per_image": per_image} | warned
        print(json.dumps(out, allow_nan=False))
        return 0
    print(
        f"{printable(folder.root.resolve().name)}: {scores.images} images"
        f"{' (' + ', '.join(shown) + ')' if shown else ''}, model "
        f"{printable(det.name)}\n  mean landmark error {fmt(scores.mean_px, '.2f')} px "
        f"({fmt(scores.mean_pct_wing, '.2f')}% of the wing length, {scores.wing_length_px:.0f} "
        f"px); centroid size off by {fmt(scores.centroid_size_error_pct, '.2f')}% on average; "
        f"Procrustes distance to the hand-placed shape {fmt(scores.procrustes, '.4f')}; "
        f"{amount(scores.not_found, 'hand-placed landmark')} not found"
    )
    for k, name in enumerate(scores.names):
        label = "" if name == str(k + 1) else printable(name)[:24]
        print(
            f"  landmark {k + 1:>2} {label:<24} mean {fmt(scores.per_landmark_px[k], '.2f'):>5} "
            f"px, 90% within {fmt(scores.p90_px[k], '.2f'):>5} px"
        )
    scored = [r for r in per_image if r["mean_px"] is not None]
    if scored:
        worst = max(scored, key=lambda r: r["mean_px"])
        print(f"  worst image: {printable(worst['image'])} ({worst['mean_px']:.2f} px on average)")
    if overlays is not None:
        print(f"overlays: {printable_path(overlays)}", file=sys.stderr)
    return 0

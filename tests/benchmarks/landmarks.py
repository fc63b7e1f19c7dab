"""Landmarks on held-out wings: the default landmarks model (int8, as the bench runs it) beside
ML-morph's shape predictor (tests/benchmarks/landmark_baseline.py), trained on the same wings,
scored upright, turned by a random angle (canvas enlarged, borders replicated) and mirrored.

    python -m tests.benchmarks.landmarks [--folder ../shared/data/drosophila-wings] [--splits 3]
        [--test-frac 0.33] [--steps N] [--scale X] [--views 1|2|4] [--fit JSON] [--inner]
        [--threads N]
        [--no-baseline | --no-model]
        [--json FILE]

Nothing here chooses a setting: the defaults were chosen with `--inner` (validation splits
inside the training part of the first split).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from device.measuring.detector import open_detector_file
from export.landmark_evaluate import evaluate_landmarks, views_of
from export.landmark_metrics import score_landmarks
from export.landmark_train import (
    DEFAULT_LANDMARK_STEPS,
    DEFAULT_LANDMARK_VIEWS,
    train_landmarks_on,
)
from export.landmarks_folder import LandmarksFolder, read_landmarks_folder
from export.train_options import Int8Refused, TrainOptions
from tests.benchmarks.areas import splits

REPO = Path(__file__).resolve().parents[2]
WINGS = REPO.parent / "shared" / "data" / "drosophila-wings"
VIEWS = {"upright": (None, False), "turned": ("random", False), "mirrored": (None, True)}


def model_rows(
    train: LandmarksFolder, test: LandmarksFolder, opts, scale, fit, views: int
) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "wings.onnx"
        t = time.monotonic()
        try:
            rep = train_landmarks_on(train, out, opts, scale, fit_overrides=fit, views=views)
            model = out
        except Int8Refused:  # the float model is measured then, and the row says so
            rep = json.loads(out.with_name("wings.report.json").read_text())
            model = out.with_name("wings.float.onnx")
        secs = time.monotonic() - t
        det = open_detector_file(model)
        readers = [(det.params.looks is not None, det)]
        if det.params.looks is not None:  # the same network without its looks, for comparison
            plain = copy.copy(det)
            plain.params = replace(det.params, looks=None)
            readers.append((False, plain))
        rows = []
        for refined, d in readers:
            for view, (angle, mirror) in VIEWS.items():
                scores, _, _ = evaluate_landmarks(d, test, angle, mirror)
                rows.append({"view": view, "refined": refined} | scores.to_json())
    r = rep if isinstance(rep, dict) else rep.__dict__
    extra = {
        "train_s": round(secs),
        "int8_vs_float_px": r["int8_vs_float_px"],
        "int8_refused": bool(r.get("int8_refused")),
        "int8_float_parts": r.get("int8_float_parts"),
        "gmac": round(r["macs_per_frame"] / 1e9, 2),
        "scale": r["input_scale"],
    }
    return [r | extra for r in rows]


def baseline_rows(train: LandmarksFolder, test: LandmarksFolder) -> list[dict]:
    from tests.benchmarks.landmark_baseline import MLMorph

    t = time.monotonic()
    sp = MLMorph().fit(train)
    secs = time.monotonic() - t
    rows = []
    for view, (angle, mirror) in VIEWS.items():
        preds, truths = [], []
        for _, rgb, pts in views_of(test, angle, mirror):  # the angles the model's rows saw
            preds.append(sp.predict(rgb))
            truths.append(pts)
        rows.append({"view": view} | score_landmarks(preds, truths, test.names).to_json())
    return [r | {"train_s": round(secs)} for r in rows]


def report(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default=str(WINGS))
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--test-frac", type=float, default=0.33)
    ap.add_argument("--steps", type=int, default=DEFAULT_LANDMARK_STEPS)
    ap.add_argument("--scale", type=float)
    ap.add_argument(
        "--threads", type=int, default=TrainOptions.threads, help="training threads per model"
    )
    ap.add_argument(
        "--views",
        type=int,
        choices=(1, 2, 4),
        default=DEFAULT_LANDMARK_VIEWS,
        help="flipped copies the model reads per frame",
    )
    ap.add_argument("--fit", default="{}", help="LandmarkFitConfig overrides as JSON (choosing)")
    ap.add_argument("--inner", action="store_true", help="validation inside split 1's training")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false")
    ap.add_argument(
        "--no-model", dest="model", action="store_false", help="only the baseline's rows"
    )
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    folder = read_landmarks_folder(a.folder)
    names = [s.name for s in folder.samples]
    if a.inner:
        outer_train, _ = next(splits(names, 1, a.test_frac))
        pairs = list(splits(outer_train, a.splits, 0.25, seed=100))
    else:
        pairs = list(splits(names, a.splits, a.test_frac))
    opts = TrainOptions(steps=a.steps, zoom_range=False, threads=a.threads)
    rows: list[dict] = []
    for k, (tr, te) in enumerate(pairs):
        train, test = folder.subset(tr), folder.subset(te)
        got = []
        if a.model:
            ours = model_rows(train, test, opts, a.scale, json.loads(a.fit), a.views)
            got += [(_ours(r), r) for r in ours]
        if a.baseline:
            got += [("ML-morph (dlib shape predictor)", r) for r in baseline_rows(train, test)]
        for method, r in got:
            rows.append({"split": k, "method": method, "n_train": len(tr), "n_test": len(te)} | r)
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    what = "inner validation splits" if a.inner else "held-out splits"
    return table(rows, f"{len(pairs)} {what}")


def _ours(row: dict) -> str:
    how = "" if row.get("refined", True) else ", network only (no looks)"
    if row["int8_refused"]:
        return f"scopecount landmarks (float: int8 refused{how})"
    parts = row.get("int8_float_parts")
    return f"scopecount landmarks (int8{f'; float: {parts}' if parts else ''}{how})"


def _ms(v: list[float]) -> str:
    return f"{np.mean(v):.2f} ± {np.std(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"


def table(rows: list[dict], what: str) -> str:
    out = [
        f"Wings, {what} (mean ± spread over splits):",
        "",
        "| method | view | mean error px | % of wing length | worst landmark's mean px | "
        "centroid size error % | Procrustes distance | train s | int8 vs float px |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(r["method"] for r in rows):
        for view in VIEWS:
            rs = [r for r in rows if r["method"] == method and r["view"] == view]
            if not rs:
                continue
            i8 = _ms([r["int8_vs_float_px"] for r in rs]) if "int8_vs_float_px" in rs[0] else "-"
            out.append(
                f"| {method} | {view} | {_ms([r['mean_px'] for r in rs])} | "
                f"{_ms([r['mean_pct_wing'] for r in rs])} | "
                f"{_ms([max(r['per_landmark_px']) for r in rs])} | "
                f"{_ms([r['centroid_size_error_pct'] for r in rs])} | "
                f"{_ms([r['procrustes'] for r in rs])} | "
                f"{np.mean([r['train_s'] for r in rs]):.0f} | {i8} |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    print(report(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

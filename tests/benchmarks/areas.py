"""Areas on held-out sections: the default areas model (int8, as the bench runs it) beside the
ilastik-style random forest, trained on the same images, over several random splits.

    python -m tests.benchmarks.areas [--folder ../shared/data/glas-glands] [--splits 3]
        [--test-frac 0.33] [--steps N] [--scale X] [--no-baseline] [--json FILE]

Nothing here chooses a setting: the defaults were chosen on validation splits inside the
training part of the first split (`--inner`: trains on 3/4 of that part, scores the other 1/4).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from device.core.imageio import write_atomic
from device.measuring.detector import open_detector_file
from export.area_evaluate import evaluate_areas
from export.area_metrics import score_images
from export.area_train import DEFAULT_AREA_STEPS, train_areas_on
from export.areas_folder import AreasFolder, read_areas_folder
from export.train_options import Int8Refused, TrainOptions
from export.train_report import sidecar

REPO = Path(__file__).resolve().parents[2]
GLAS = REPO.parent / "shared" / "data" / "glas-glands"


def splits(names: list[str], n: int, test_frac: float, seed: int = 0):
    """n random (train, test) splits of the names, each its own shuffle."""
    for k in range(n):
        order = list(np.random.default_rng(seed + k).permutation(names))
        cut = round(len(order) * test_frac)
        yield sorted(order[cut:]), sorted(order[:cut])


def model_row(
    train: AreasFolder,
    test: AreasFolder,
    opts: TrainOptions,
    scale: float | None,
    overrides: dict | None = None,
    keep: Path | None = None,
):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "areas.onnx"
        t = time.monotonic()
        model, quantization = out, "int8"
        try:
            train_areas_on(train, out, opts, scale, fit_overrides=overrides)
        except Int8Refused:  # a draw of few sections can: score the float model `train` kept
            model, quantization = sidecar(out, ".float.onnx"), "float (int8 refused)"
        secs = time.monotonic() - t
        rep = json.loads(sidecar(out, ".report.json").read_text())
        ev = evaluate_areas(open_detector_file(model), test)
        scores = ev.scores
        if keep is not None:  # for a look at the model later (choosing on inner splits)
            keep.parent.mkdir(parents=True, exist_ok=True)
            names = json.dumps([s.name for s in test.samples])
            write_atomic(sidecar(keep, ".test.json"), names.encode())
            write_atomic(keep, model.read_bytes())
    return scores, {
        "quantization": quantization,
        "flags": ev.flags,
        "train_s": round(secs),
        "int8_vs_float_pp": rep["int8_vs_float_pp"],
        "gmac": round(rep["macs_per_frame"] / 1e9, 2),
        "scale": rep["input_scale"],
    }


def forest_row(train: AreasFolder, test: AreasFolder, scale: float):
    from tests.benchmarks.area_baseline import PixelForest

    t = time.monotonic()
    forest = PixelForest(scale).fit(train)
    preds = [forest.predict(s.image()) for s in test.samples]
    secs = time.monotonic() - t
    return score_images(preds, [s.labels() for s in test.samples], test.classes), {
        "train_s": round(secs)
    }


def median_error(rows: list[dict], cls: str) -> str:
    """The median image's share error, per split: the mean is carried by a few hard images."""
    v = [float(np.nanmedian(np.array(r["fraction_errors"][cls], float))) for r in rows]
    return f"{np.mean(v):.2f} ± {np.std(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"


def flagged(rows: list[dict], cls: str) -> tuple[str, str]:
    """Images flagged `uncertain` (of all, over the splits) and the share error of the rest."""
    if any("flags" not in r for r in rows):
        return "-", "-"
    n = sum(len(r["flags"]) for r in rows)
    k = sum("uncertain" in f for r in rows for f in r["flags"])
    rest = []
    for r in rows:
        pairs = zip(r["fraction_errors"][cls], r["flags"], strict=True)
        kept = [np.nan if e is None else e for e, f in pairs if "uncertain" not in f]
        rest.append(float(np.nanmean(kept)) if np.isfinite(kept).any() else float("nan"))
    spread = f" ± {np.std(rest):.2f}" if len(rest) > 1 else ""
    return f"{k} of {n}", f"{np.mean(rest):.2f}{spread}"


def summary(rows: list[dict], key: str, cls: str) -> str:
    v = [r[key][cls] for r in rows]
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def report(argv: list[str] | None = None) -> str:
    """Run the splits; the markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default=str(GLAS))
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--test-frac", type=float, default=0.33)
    ap.add_argument("--steps", type=int, default=DEFAULT_AREA_STEPS)
    ap.add_argument("--scale", type=float)
    ap.add_argument(
        "--threads", type=int, default=TrainOptions.threads, help="training threads per model"
    )
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--inner", action="store_true", help="validation inside split 1's training")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--fit", default="{}", help="AreaFitConfig overrides as JSON (choosing)")
    ap.add_argument("--only", help="run these splits only, e.g. 1,2 (side by side on two cores)")
    ap.add_argument("--keep", type=Path, help="copy each split's model here (splitK.onnx)")
    a = ap.parse_args(argv)
    folder = read_areas_folder(a.folder)
    names = [s.name for s in folder.samples]
    if a.inner:
        outer_train, _ = next(splits(names, 1, a.test_frac))
        pairs = list(splits(outer_train, a.splits, 0.25, seed=100))
    else:
        pairs = list(splits(names, a.splits, a.test_frac))
    opts = TrainOptions(steps=a.steps, width=a.width, zoom_range=False, threads=a.threads)
    rows: list[dict] = []
    only = {int(v) for v in a.only.split(",")} if a.only else set(range(len(pairs)))
    for k, (tr, te) in enumerate(pairs):
        if k not in only:
            continue
        train, test = folder.subset(tr), folder.subset(te)
        keep = a.keep / f"split{k}.onnx" if a.keep else None  # by split: runs side by side
        scores, extra = model_row(train, test, opts, a.scale, json.loads(a.fit), keep)
        rows.append(
            {
                "split": k,
                "method": f"scopecount areas ({extra['quantization']})",
                "n_train": len(tr),
                "n_test": len(te),
            }
            | scores.to_json()
            | {"test_images": list(te)}
            | extra
        )
        print(json.dumps(rows[-1] | {"fraction_errors": None}), file=sys.stderr, flush=True)
        if a.baseline:
            bscores, bextra = forest_row(train, test, a.scale or 0.5)
            rows.append(
                {
                    "split": k,
                    "method": "ilastik-style forest",
                    "n_train": len(tr),
                    "n_test": len(te),
                }
                | bscores.to_json()
                | bextra
            )
            print(json.dumps(rows[-1] | {"fraction_errors": None}), file=sys.stderr, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    what = "inner validation splits" if a.inner else "held-out splits"
    return table(rows, folder.classes, f"{len(pairs)} {what}")


def table(rows: list[dict], classes: list[str], what: str) -> str:
    """One markdown table per class: mean ± spread over the splits."""
    out = []
    for cls in classes:
        out += [
            f"{cls}, {what} (mean ± spread over splits):",
            "",
            "| method | share error (points per image) | median image's | flagged uncertain | "
            "share error of the rest | Dice per image | Dice pooled | IoU pooled | "
            "predicting the mean | train s | int8 vs float (points) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for method in dict.fromkeys(r["method"] for r in rows):
            rs = [r for r in rows if r["method"] == method]
            i8 = [r["int8_vs_float_pp"] for r in rs if "int8_vs_float_pp" in r]
            n_flagged, rest = flagged(rs, cls)
            out.append(
                f"| {method} | {summary(rs, 'fraction_error', cls)} | {median_error(rs, cls)} | "
                f"{n_flagged} | {rest} | "
                f"{summary(rs, 'dice', cls)} | {summary(rs, 'pooled_dice', cls)} | "
                f"{summary(rs, 'pooled_iou', cls)} | {summary(rs, 'baseline_error', cls)} | "
                f"{np.mean([r['train_s'] for r in rs]):.0f} | "
                f"{f'{max(i8):.2f}' if i8 else '-'} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    print(report(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

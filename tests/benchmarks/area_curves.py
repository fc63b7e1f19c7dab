"""Areas taught from a few sections: learning curves for full masks and for scribbles, each point
the mean and spread over several random draws of the training sections, scored on the same
held-out sections (int8 models, default settings unless --steps).

    python -m tests.benchmarks.area_curves [--sizes 6] [--draws 5] [--steps N] [--json FILE]

Draws are independent: `--only 0,2,4 --threads 1 --json a.json` and `--only 1,3 --threads 1
--json b.json` run side by side on two cores, and `--table a.json b.json` prints their table.

Scribbles are simulated from the masks as a person paints them: a few strokes inside each class,
kept away from its boundaries; everything else unlabelled (0, with a classes.csv).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from export.area_train import DEFAULT_AREA_STEPS
from export.areas_folder import AreasFolder, read_areas_folder
from export.train_options import TrainOptions
from tests.benchmarks.areas import GLAS, model_row, splits

STROKES = 3  # per class and image
STROKE_PX = 9  # brush width
MARGIN_PX = 12  # strokes stay this far inside their class


def scribble(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A label image of strokes (1 background, k+1 class k, 0 unlabelled) from full labels."""
    out = np.zeros(labels.shape, np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MARGIN_PX + 1,) * 2)
    for k in np.unique(labels[labels >= 0]):
        inside = cv2.erode((labels == k).astype(np.uint8), kernel)
        ys, xs = np.nonzero(inside)
        if len(xs) < 2:
            continue
        stroke = np.zeros_like(out)
        for _ in range(STROKES):
            i, j = rng.integers(0, len(xs), 2)
            cv2.line(stroke, (int(xs[i]), int(ys[i])), (int(xs[j]), int(ys[j])), 1, STROKE_PX)
        out[(stroke > 0) & (inside > 0)] = k + 1
    return out


def scribbled_folder(folder: AreasFolder, names: list[str], dest: Path, seed: int) -> AreasFolder:
    """A folder of links to the images, with simulated scribbles as masks."""
    rng = np.random.default_rng(seed)
    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    by_name = {s.name: s for s in folder.samples}
    for n in names:
        s = by_name[n]
        (dest / "images" / n).symlink_to(s.path.resolve())
        cv2.imwrite(str(dest / "masks" / f"{Path(n).stem}.png"), scribble(s.labels(), rng))
    rows = ["value,class", "1,background"] + [f"{k + 2},{c}" for k, c in enumerate(folder.classes)]
    (dest / "classes.csv").write_text("\n".join(rows) + "\n")
    return read_areas_folder(dest)


def report(argv: list[str] | None = None) -> str:
    """Train and score every draw; the markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default=str(GLAS))
    ap.add_argument("--sizes", default="6", help="training sections per model, e.g. 3,6,12")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--test-frac", type=float, default=0.33)
    ap.add_argument("--steps", type=int, default=DEFAULT_AREA_STEPS)
    ap.add_argument("--kinds", default="full,scribbles")
    ap.add_argument("--only", help="run these draws only, e.g. 0,2,4")
    ap.add_argument("--threads", type=int, default=2, help="training threads per model")
    ap.add_argument("--width", type=int, help="network width (default: train's)")
    ap.add_argument("--json")
    ap.add_argument("--fit", default="{}", help="AreaFitConfig overrides as JSON (choosing)")
    ap.add_argument(
        "--inner", action="store_true", help="draw from and score inside split 1's training part"
    )
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print the table of these runs")
    a = ap.parse_args(argv)
    folder = read_areas_folder(a.folder)
    if a.table:
        return table([r for f in a.table for r in json.loads(Path(f).read_text())], folder.classes)
    pool, held = next(splits([s.name for s in folder.samples], 1, a.test_frac))
    if a.inner:  # choosing settings: never on the sections the curve reports
        pool, held = next(splits(pool, 1, 0.25, seed=100))
    test = folder.subset(held)
    opts = TrainOptions(steps=a.steps, zoom_range=False, threads=a.threads)
    if a.width is not None:
        opts = replace(opts, width=a.width)
    draws = [int(v) for v in a.only.split(",")] if a.only else range(a.draws)
    rows = []
    for size in [int(v) for v in a.sizes.split(",")]:
        for d in draws:
            names = sorted(np.random.default_rng(1000 + d).choice(pool, size, replace=False))
            for kind in a.kinds.split(","):
                with tempfile.TemporaryDirectory() as tmp:
                    train = (
                        folder.subset(list(names))
                        if kind == "full"
                        else scribbled_folder(folder, list(names), Path(tmp) / "f", d)
                    )
                    scores, extra = model_row(train, test, opts, None, json.loads(a.fit))
                row = {"size": size, "draw": d, "kind": kind, "n_test": len(held)}
                row |= {k: scores.to_json()[k] for k in ("fraction_error", "dice")} | extra
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return table(rows, folder.classes)


def table(rows: list[dict], classes: list[str]) -> str:
    """Mean and spread over the draws, per size, kind of labels and class."""
    out = ["| sections | labels | share error (points/image), mean ± sd over draws | Dice |"]
    out.append("|---|---|---|---|")
    for size in dict.fromkeys(r["size"] for r in rows):
        for kind in dict.fromkeys(r["kind"] for r in rows):
            rs = [r for r in rows if r["size"] == size and r["kind"] == kind]
            for c in classes:
                e = [r["fraction_error"][c] for r in rs]
                dc = [r["dice"][c] for r in rs]
                floats = sum(r.get("quantization", "int8") != "int8" for r in rs)
                what = f"{kind} ({floats} of {len(rs)} float: int8 refused)" if floats else kind
                out.append(
                    f"| {size} | {what} | {np.mean(e):.2f} ± {np.std(e):.2f} "
                    f"| {np.mean(dc):.3f} ± {np.std(dc):.3f} |"
                )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    print(report(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

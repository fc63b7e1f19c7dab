"""Accuracy on images the model never saw: train on part of each shared folder, count the rest.

    python -m tests.benchmarks.accuracy [--folders mbm adipocyte] [--splits 2] [--minutes 4.5]

Prints a Markdown table (mean and spread over splits) for the float and the int8 model.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from device.counter import Counter
from export.evaluate import _link_subset, evaluate_model
from export.folder import read_folder
from export.train import TrainOptions, train
from tests.conftest import SHARED_DATA

HOLDOUT = {"mosquito-eggs": 2, "mbm": 6, "adipocyte": 20}
KINDS = ("float", "int8", "classical", "density-forest")
PUBLISHED = {  # from the papers, other splits: context, not a like-for-like comparison
    "mbm": [("SAU-Net (2019, GPU)", "5.7 ± 1.2"), ("Count-ception (2017, GPU)", "8.8 ± 2.3")],
    "adipocyte": [
        ("SAU-Net (2019, GPU)", "14.2 ± 1.6"),
        ("Count-ception (2017, GPU)", "19.4 ± 2.2"),
    ],
}
TARGETS = {"mosquito-eggs": ("mre", 0.025), "mbm": ("mae", 5.7), "adipocyte": ("mae", 14.2)}


def run_split(name: str, split: int, minutes: float, tmp: Path, baselines: bool = False) -> dict:
    folder = read_folder(SHARED_DATA / name)
    rng = np.random.default_rng(100 + split)
    order = [folder.samples[i].name for i in rng.permutation(len(folder.samples))]
    k = HOLDOUT.get(name, max(1, len(order) // 5))
    test_names, train_names = order[:k], order[k:]
    train_dir = tmp / f"{name}-{split}"
    _link_subset(folder, train_names, train_dir)
    out = tmp / f"{name}-{split}.onnx"
    t0 = time.monotonic()
    rep = train(train_dir, out, TrainOptions(minutes=minutes, seed=split))
    test = folder.subset(test_names)
    res = {"folder": name, "split": split, "train_s": time.monotonic() - t0, "report": rep}
    for kind, path in (("int8", out), ("float", Path(rep["float_model"]))):
        m = evaluate_model(Counter.from_file(path), test)
        res[kind] = {k: m[k] for k in ("mae", "mre", "bias", "f1")}
        res[kind]["per_image"] = [(r["true"], r["pred"]) for r in m["per_image"]]
    if baselines:
        from export.train import measure_object_size
        from tests.benchmarks.baselines import run_baselines

        for kind, pairs in run_baselines(
            folder.subset(train_names), test, measure_object_size(folder.subset(train_names)), split
        ).items():
            t = np.array([a for a, _ in pairs], float)
            p = np.array([b for _, b in pairs], float)
            res[kind] = {
                "mae": float(np.abs(p - t).mean()),
                "mre": float(np.mean(np.abs(p - t) / np.maximum(t, 1))),
                "bias": float(np.mean(p - t)),
                "f1": float("nan"),
                "per_image": pairs,
            }
    print(json.dumps({k: v for k, v in res.items() if k != "report"}), file=sys.stderr, flush=True)
    return res


def table(results: list[dict]) -> str:
    lines = [
        "| folder | model | MAE | mean rel. error | bias | point F1 | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["folder"] for r in results):
        rs = [r for r in results if r["folder"] == name]
        metric, limit = TARGETS.get(name, ("mae", float("nan")))
        for kind in [k for k in KINDS if all(k in r for r in rs)]:

            def ms(key: str, rs=rs, kind=kind) -> str:
                v = np.array([r[kind][key] for r in rs])
                if np.isnan(v).any():
                    return "n/a"
                scale = 100 if key == "mre" else 1
                unit = "%" if key == "mre" else ""
                return f"{v.mean() * scale:.2f}{unit} ± {v.std() * scale:.2f}"

            tgt = f"{metric.upper()} ≤ {limit * (100 if metric == 'mre' else 1):g}"
            tgt += "%" if metric == "mre" else ""
            if kind not in ("float", "int8"):
                tgt = "(baseline)"
            lines.append(
                f"| {name} ({len(rs)} splits) | {kind} | {ms('mae')} | {ms('mre')} | "
                f"{ms('bias')} | {ms('f1')} | {tgt} |"
            )
        for label, fig in PUBLISHED.get(name, []):
            lines.append(f"| {name} | {label}, from the paper | {fig} | | | | other split |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--folders", nargs="+", default=list(HOLDOUT))
    ap.add_argument("--splits", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=4.5)
    ap.add_argument("--baselines", action="store_true", help="also the classical and forest")
    a = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.folders:
            if not (SHARED_DATA / name / "points.csv").exists():
                print(f"skipping {name}: {SHARED_DATA / name} is absent", file=sys.stderr)
                continue
            for split in range(a.splits):
                results.append(run_split(name, split, a.minutes, Path(tmp), a.baselines))
    print(table(results))
    return results


if __name__ == "__main__":
    main()

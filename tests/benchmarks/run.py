"""`make bench`: accuracy, speed and the bench, one command, tables printed and written into
the README's "How good is it" section (between the bench markers), with the date of the run.

    python -m tests.benchmarks.run [--quick] [--splits 2] [--steps 6000] [--jobs 2] [--no-readme]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from device.cli.benchmark import benchmark, machine
from device.cli.benchmark import table as speed_table
from device.core.paths import default_model
from tests.benchmarks import (
    accuracy,
    area_curves,
    areas,
    bench_sim,
    busy_training,
    landmarks,
    zoom_ranges,
)

REPO = Path(__file__).resolve().parents[2]
YOLO_VENV = REPO / ".bench" / "yolo-venv"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
# YOLO11n on a Raspberry Pi 5 (4 threads, onnxruntime, 640x640): about 168 ms, as reported by
# people running it there. Our model's Pi figure is estimated from the ratio measured here.
YOLO_PI5_MS = 168.0
PI4_VS_PI5 = 2.5  # a Pi 4 (Cortex-A72 1.8 GHz) is about 2-3x slower than a Pi 5 (A76 2.4 GHz)


def baseline_args() -> list[str]:
    """ML-morph's row needs dlib (the bench extra builds it from source): said, not hidden."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        print("dlib is not installed (pip install -e '.[bench]'): no ML-morph row", file=sys.stderr)
        return ["--no-baseline"]
    return []


def yolo_rows() -> list[dict]:
    py = YOLO_VENV / "bin" / "python"
    if not py.exists():
        setup = ["bash", str(REPO / "tests/benchmarks/yolo_venv.sh"), str(YOLO_VENV)]
        if subprocess.run(setup).returncode != 0:
            print("YOLO11n venv could not be made: its rows are left out", file=sys.stderr)
            return []
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        proc = subprocess.run(
            [str(py), str(REPO / "tests/benchmarks/yolo_speed.py"), f.name],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(f"YOLO11n failed: {proc.stderr[-800:]}", file=sys.stderr)
            return []
        return json.loads(Path(f.name).read_text())


def pi_estimate(ours: list[dict], yolo: list[dict]) -> str:
    def pick(rows: list[dict], frame: str, threads: int, quant: str = "int8") -> dict | None:
        for r in rows:
            if r["frame"] == frame and r["threads"] == threads and r["quant"] == quant:
                return r
        return None

    y = pick(yolo, "640x640", 2, "float")
    o = pick(ours, "1280x960", 2)
    if not y or not o:
        return "(no estimate: YOLO11n was not measured in this run)"
    ratio = o["median_ms"] / y["median_ms"]
    pi5 = ratio * YOLO_PI5_MS
    return (
        f"Measured here in one run: our int8 model counts a 1280x960 frame in "
        f"{o['median_ms']:.0f} ms, YOLO11n needs {y['median_ms']:.0f} ms for 640x640 "
        f"(2 threads): ratio {ratio:.2f}, **{1 / ratio:.1f}x faster with 3x the pixels**.\n\n"
        f"Estimate, not a measurement: assuming the same ratio holds on ARM (both are "
        f"convolution-bound in onnxruntime's MLAS), and YOLO11n at about {YOLO_PI5_MS:.0f} ms on "
        f"a Pi 5, one 1280x960 count takes about **{pi5:.0f} ms on a Pi 5** and **"
        f"{pi5 * PI4_VS_PI5:.0f} ms on a Pi 4** (taken as {PI4_VS_PI5}x slower); the points "
        f"and the zoom check are {o['median_ms'] - o['infer_ms']:.0f} ms of it here. From MACs "
        f"alone: "
        f"{o['gmacs']:.2f} GMAC against YOLO11n's {y['gmacs']:.2f}. Run `scopecount benchmark` "
        f"on the Pi for the real figures."
    )


def write_readme(section: str) -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    block = f"{START}\n{section}\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1 split, 300 steps, mbm only")
    ap.add_argument("--splits", type=int, default=2)
    ap.add_argument("--steps", type=int, default=accuracy.DEFAULT_STEPS)
    ap.add_argument("--jobs", type=int, default=2, help="accuracy splits trained at a time")
    ap.add_argument("--no-readme", action="store_true")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    date = datetime.date.today().isoformat()
    parts = [
        f"Measured by `make bench` on {date}, on {machine()}; every figure below comes "
        "from that run."
    ]

    acc_args = [
        "--splits",
        str(1 if a.quick else a.splits),
        "--steps",
        str(300 if a.quick else a.steps),
        "--baselines",
        "--jobs",
        str(a.jobs),
    ]
    if a.quick:
        acc_args += ["--folders", "mbm", "--frontier", "1", "--frontier-archs"]
    results = accuracy.main(acc_args)
    default = [r for r in results if accuracy.is_default(r)]
    sizes = {r["folder"]: (r["n_images"], r["n_other_zoom"]) for r in results}
    steps = 300 if a.quick else a.steps
    parts += [
        "### Accuracy on images the model never saw",
        "Splits: "
        + "; ".join(accuracy.protocol(n, k, o) for n, (k, o) in sizes.items())
        + ". The model is trained on the rest with default settings "
        f"(`scopecount train`: {steps} steps, a 2 GMAC budget per 1280x960 frame, one thread, "
        f"{a.jobs} splits at a time), and counts the held-out images; mean ± spread over "
        "splits. The defaults (network, width, budget, steps) were chosen on validation splits "
        "drawn inside the training images of the first split, never on these held-out images. "
        "Rows for photographs at another zoom count photographs taken closer than the folder's "
        "main zoom: the model measures each frame's objects and recounts at the taught size. "
        "The classical pipeline (Otsu "
        "threshold, distance transform, peak splitting; tuned on the training images) and the "
        "density forest (QuantiFly-style extra-trees on filter features) see the same "
        "splits.",
        accuracy.table(default),
        "### Held-out images at other zooms",
        "Every held-out image resized, as after turning the zoom knob, counted by the same "
        "models (no retraining, no setting changed) and by the classical pipeline tuned at 1x.",
        accuracy.zoom_table(results),
        "### Accuracy against cost",
        "The first split of each folder trained again at other budgets (`train --budget-gmac`) "
        "and, at the default budget, with the other network design (`train --arch unet`: full "
        "3x3 convolutions, fewer MACs per frame left for resolution but about half the time per "
        "MAC). "
        "GMAC are counted from each ONNX graph for a 1280x960 frame after the model's own input "
        "scaling; the Pi 4 column is an estimate per network design "
        "(`device/measuring/pi_cost.py`). "
        "YOLO11n costs 3.24 GMAC at 640x640 (speed table below).",
        accuracy.frontier_table(results),
        "The default model of each folder (first split), timed alone once all training was "
        "done: a 1280x960 frame tiled from a held-out image, counted (resize, inference, "
        "points and the zoom check), median of 9.",
        accuracy.speed_table(results),
    ]

    parts += [
        "### Each model's zoom range",
        "`train`'s zoom check chooses each model's range on images held back from its own "
        "training images; the test images of each split then show what the bench reports at "
        "0.7x and 1.4x: the frames it flags `zoom` and the mean relative error of the rest "
        "(`tests/benchmarks/zoom_ranges.py`).",
        zoom_ranges.report(["--splits", "1" if a.quick else str(a.splits), "--steps", str(steps)]),
        "### Training beside busy programs",
        busy_training.report([])[0],
    ]
    if areas.GLAS.is_dir():
        area_steps = ["--steps", "300"] if a.quick else []
        parts += [
            "### Areas on held-out sections",
            "GlaS colon sections (`glas-glands`, 85 images, pathologists' gland masks): random "
            "splits, a third held out; the areas model trained with default settings "
            "(`scopecount train`, int8) beside an ilastik-style random forest on Gaussian, "
            "Laplacian-of-Gaussian, gradient and structure-tensor features at five scales "
            "(`tests/benchmarks/area_baseline.py`), trained on the same pixels. Share error: "
            "each held-out image's gland share against the pathologists' mask, in percentage "
            "points; predicting the mean: always answering the training images' mean share.",
            areas.report(["--splits", "1" if a.quick else "3", *area_steps]),
            "### Areas taught from six sections",
            "Six sections drawn at random from the training part (five draws), full masks "
            "against simulated scribbles (three strokes per class and image, 12 px inside "
            "their class), scored on the same held-out sections.",
            area_curves.report(["--draws", "1" if a.quick else "5", *area_steps]),
        ]
    if landmarks.WINGS.is_dir():
        lm_steps = ["--steps", "300"] if a.quick else []
        parts += [
            "### Landmarks on held-out wings",
            "Drosophilid wings (`drosophila-wings`, 38 photographs, 12 hand-placed landmarks): "
            "random splits, a third held out; the landmarks model trained with default settings "
            "beside ML-morph's dlib shape predictor (`tests/benchmarks/landmark_baseline.py`) on "
            "the same wings, scored upright, turned by a random angle (canvas enlarged, borders "
            "replicated) and mirrored. Wing length: the distance between the two landmarks "
            "farthest apart on average.",
            landmarks.report(["--splits", "1" if a.quick else "3", *lm_steps, *baseline_args()]),
        ]
    model = default_model()
    float_twin = model.with_name(model.stem + ".float.onnx")
    models = [model] + ([float_twin] if float_twin.exists() else [])
    ours = benchmark(models, [1, 2], 10)
    yolo = yolo_rows()
    parts += [
        "### Speed per frame on this machine",
        "Counting = resize, inference, points and the zoom check; YOLO11n = inference only.",
        speed_table(ours + yolo),
        pi_estimate(ours, yolo),
    ]

    sim = bench_sim.measure(40 if not a.quick else 10, None)
    parts += [
        "### The bench (`--sim`, 1280x960 replay frames, shipped model)",
        bench_sim.table(sim),
    ]
    section = "\n\n".join(parts)
    print(section)
    if not a.no_readme:
        write_readme(section)


if __name__ == "__main__":
    main()

"""`scopecount benchmark`: how fast this machine counts one camera frame, per model and threads.

Run it on the bench itself: the figures a lab needs are the Pi's own, not a laptop's.
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from device.measuring.detector import open_detector
from device.measuring.meta_values import plain_number
from device.measuring.modelfile import read_model_bytes
from device.measuring.preprocess import padded_input

SIZES = ((480, 640), (960, 1280))


def machine() -> str:
    model = ""
    for p in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            model = Path(p).read_text().strip("\x00\n ")
            break
        except OSError:
            continue
    if not model:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return f"{model or platform.processor() or 'unknown'} ({platform.machine()})"


def test_frame(hw: tuple[int, int]) -> np.ndarray:
    from device.hardware.synthetic import make_vial

    img, _ = make_vial(12345, (960, 1280))
    return cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)


def time_model(path: Path, hw: tuple[int, int], threads: int, repeats: int) -> dict:
    """`count`: all a press costs after the capture (resize, inference, and for counting the
    points, the zoom check and any recount it asks for; for areas the class of every pixel and
    the shares); `inference`: the resized frame made into the network's input and run. GMAC as
    `train` and `model list` give them: for the padded input."""
    data = read_model_bytes(path)
    c = open_detector(data, str(path), threads)
    frame = test_frame(hw)
    c.measure(frame)  # the first full-size run allocates: not timed
    total, infer = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        c.measure(frame)
        t1 = time.perf_counter()
        c.run(c.at_scale(frame))
        t2 = time.perf_counter()
        total.append((t1 - t0) * 1000)
        infer.append((t2 - t1) * 1000)
    per_px = plain_number(c.info.metrics.get("macs_per_input_pixel"), 1e6) or 0.0
    macs = per_px * np.prod(padded_input(hw, c.info.input_scale))
    return {
        "model": c.name,
        "task": c.task,
        "quant": "int8" if c.info.quantization.startswith("int8") else "float",
        "frame": f"{hw[1]}x{hw[0]}",
        "threads": threads,
        "median_ms": statistics.median(total),
        "p95_ms": float(np.percentile(total, 95)),
        "infer_ms": statistics.median(infer),
        "gmacs": float(macs) / 1e9,
        "kb": len(data) / 1024,
    }


def table(rows: list[dict]) -> str:
    out = [
        "| model | weights | frame | threads | count ms (median) | p95 | inference ms | GMAC "
        "| file KB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['model']} | {r['quant']} | {r['frame']} | {r['threads']} | "
            f"{r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['infer_ms']:.1f} | "
            f"{r['gmacs']:.2f} | {r['kb']:.0f} |"
        )
    return "\n".join(out)


def benchmark(models: list[Path], threads: list[int], repeats: int) -> list[dict]:
    rows = []
    for m in models:
        for hw in SIZES:
            for t in threads:
                rows.append(time_model(m, hw, t, repeats))
    return rows


def benchmark_cmd(models: list[str], threads: list[int], repeats: int) -> int:
    from device.core.paths import default_model

    paths = [Path(m) for m in models] or [default_model()]
    float_twin = paths[0].with_name(paths[0].stem + ".float.onnx")
    if not models and float_twin.exists():
        paths.append(float_twin)
    print(f"machine: {machine()}")
    rows = benchmark(paths, threads, repeats)
    print(table(rows))
    return 0

"""YOLO11n speed at 640x640 for comparison: built from its config with random weights (only its
speed matters), exported to ONNX, timed with onnxruntime. Runs in its own throwaway venv
(.bench/yolo-venv: torch 2.14.1, torchvision 0.29.1, ultralytics), never in the project's.

    .bench/yolo-venv/bin/python tests/benchmarks/yolo_speed.py OUT.json
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402


def macs(model: torch.nn.Module, size: int) -> int:
    total = 0

    def hook(m: torch.nn.Module, _i: tuple, out: torch.Tensor) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += int(out.numel() // out.shape[0]) * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    return total


def main(out_path: str, repeats: int = 10) -> None:
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolo11n.yaml", verbose=False).eval()
    for m in model.modules():
        if hasattr(m, "export"):
            m.export = True  # the detect head's plain tensor output, as ultralytics exports it
    n_macs = macs(model, 640)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/yolo11n.onnx"
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, 640, 640),),
            path,
            opset_version=17,
            input_names=["images"],
            dynamo=False,
        )
        size_kb = os.path.getsize(path) / 1024
        x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
        for threads in (1, 2):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            sess.run(None, {"images": x})
            ts = []
            for _ in range(repeats):
                t = time.perf_counter()
                sess.run(None, {"images": x})
                ts.append((time.perf_counter() - t) * 1000)
            rows.append(
                {
                    "model": "YOLO11n (random weights)",
                    "quant": "float",
                    "frame": "640x640",
                    "threads": threads,
                    "median_ms": statistics.median(ts),
                    "p95_ms": float(np.percentile(ts, 95)),
                    "infer_ms": statistics.median(ts),
                    "gmacs": n_macs / 1e9,
                    "kb": size_kb,
                }
            )
    with open(out_path, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main(sys.argv[1])

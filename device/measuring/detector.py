"""The one seam between the bench and what a model measures: a Detector per task.

Everything that runs models (the bench, `count`, `evaluate`, `model install`'s smoke test,
`doctor`) opens them here and reads a Measurement; no caller asks which task a model has in
order to run it. A new task is a new Detector class in TASK_DETECTORS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from device.core.errors import ModelError
from device.measuring.area_meter import AreaMeter
from device.measuring.counter import Counter
from device.measuring.landmark_meter import LandmarkMeter
from device.measuring.modelfile import TASKS, ModelInfo, parse_metadata, read_model_bytes
from device.measuring.onnx_scan import scan
from device.measuring.result import Measurement

TASK_DETECTORS: dict[str, type[Counter] | type[AreaMeter] | type[LandmarkMeter]] = {
    "count": Counter,
    "areas": AreaMeter,
    "landmarks": LandmarkMeter,
}
assert tuple(TASK_DETECTORS) == TASKS


class Detector(Protocol):
    task: str
    info: ModelInfo
    sha256: str
    size: int
    where: str
    warmup_ms: float

    @property
    def name(self) -> str: ...

    def measure(self, rgb: np.ndarray) -> Measurement: ...

    def at_scale(self, rgb: np.ndarray) -> np.ndarray: ...

    def run(self, small: np.ndarray) -> np.ndarray: ...


def open_detector(data: bytes, where: str = "model", threads: int = 0) -> Detector:
    """The detector for this model file's task; ModelError naming the file when none fits."""
    meta = scan(data, where)  # refused here before onnxruntime reads it
    kind = TASK_DETECTORS.get(meta.get("scopecount.task", "count"))
    if kind is None:
        parse_metadata(meta, where)  # the metadata check gives the full message
        raise ModelError(f"{where}: metadata scopecount.task is not one this scopecount measures")
    return kind(data, where, threads, scanned=True)


def open_detector_file(path: str | Path, threads: int = 0) -> Detector:
    return open_detector(read_model_bytes(path), str(path), threads)

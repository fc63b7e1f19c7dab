"""One onnxruntime session per model file, created once and warmed up once; what every task's
detector shares (device/measuring/counter.py counts, area_meter.py measures areas)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from device.core.errors import ModelError
from device.measuring.modelfile import ModelInfo, parse_metadata, read_model_bytes, sha256_bytes
from device.measuring.onnx_scan import scan
from device.measuring.preprocess import model_input, rescale


def resolve_threads(threads: int) -> int:
    """The thread count onnxruntime gets: never 0.

    With 0, onnxruntime sizes its pool itself and pins each thread with sched_setaffinity, a call
    the service's seccomp filter (~@resources) answers with SIGSYS. An explicit count pins nothing.
    The Pi 4 and 5 have 4 cores; more threads than cores only adds contention.
    """
    return threads if threads > 0 else max(1, min(4, os.cpu_count() or 1))


def make_session(data: bytes, where: str, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = resolve_threads(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises several unrelated types for bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{where}: not a loadable ONNX model ({first[:160]})") from None


class OnnxModel:
    """Loads a model file, checks it, warms it up. Subclasses say what a frame measures."""

    task = ""

    def __init__(
        self, data: bytes, where: str = "model", threads: int = 0, *, scanned: bool = False
    ) -> None:
        self.where = where
        self.sha256 = sha256_bytes(data)
        self.size = len(data)
        if not scanned:  # open_detector has scanned it already, to learn the task
            scan(data, where)  # external data, control flow: refused before onnxruntime reads it
        self.session = make_session(data, where, threads)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.info: ModelInfo = parse_metadata(meta, where)
        if self.info.task != self.task:
            raise ModelError(
                f"{where}: metadata scopecount.task={self.info.task!r}, "
                f"not a {self.task} model (open it with device.measuring.detector.open_detector)"
            )
        self._check_io()
        self.warmup_ms = self._warm_up()

    @classmethod
    def from_file(cls, path: str | Path, threads: int = 0):  # noqa: ANN206 (the subclass)
        return cls(read_model_bytes(path), str(path), threads)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def out_channels(self) -> int:
        """The channels of the network's output map."""
        return len(self.info.classes)

    def _check_io(self) -> None:
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        if len(ins) != 1 or len(outs) != 1:
            raise ModelError(
                f"{self.where}: expected 1 input and 1 output, got {len(ins)}/{len(outs)}"
            )
        shape = ins[0].shape
        if ins[0].type != "tensor(float)" or len(shape) != 4 or shape[1] not in (3, "C", None):
            raise ModelError(
                f"{self.where}: input must be float [N,3,H,W], got {ins[0].type} {shape}"
            )
        oshape = outs[0].shape
        if len(oshape) != 4:
            raise ModelError(f"{self.where}: output must be [N,classes,H,W], got {oshape}")
        self.input_name = ins[0].name

    def _warm_up(self) -> float:
        """One run on a generated frame: checks the output shape and pays first-run costs now."""
        side = 64 * self.info.output_stride
        rng = np.random.default_rng(0)
        x = rng.normal(0, 1, (1, 3, side, side)).astype(np.float32)
        t = time.perf_counter()
        try:
            (out,) = self.session.run(None, {self.input_name: x})
        except Exception as e:
            raise ModelError(f"{self.where}: smoke inference failed ({str(e)[:160]})") from None
        ms = (time.perf_counter() - t) * 1000
        cells = side // self.info.output_stride
        if tuple(out.shape) != (1, self.out_channels, cells, cells):
            raise ModelError(
                f"{self.where}: output shape {list(out.shape)} does not fit "
                f"{len(self.info.classes)} classes at stride {self.info.output_stride}"
            )
        if not np.all(np.isfinite(out)):
            raise ModelError(f"{self.where}: smoke inference gave non-finite values")
        return ms

    def run(self, small: np.ndarray) -> np.ndarray:
        """The network's output map (channels x h x w) for a frame already at the model's scale."""
        info = self.info
        x = model_input(small, info.mean, info.std)
        (out,) = self.session.run(None, {self.input_name: x})
        return out[0]

    def at_scale(self, rgb: np.ndarray) -> np.ndarray:
        return rescale(rgb, self.info.input_scale)

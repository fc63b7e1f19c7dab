"""The detector: one onnxruntime session, created once and warmed up once, frames -> counts."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from device.core.errors import ModelError
from device.measuring import zoom as zoom_
from device.measuring.decode import Decoded, decode
from device.measuring.modelfile import ModelInfo, parse_metadata, read_model_bytes, sha256_bytes
from device.measuring.onnx_scan import scan
from device.measuring.preprocess import model_input, rescale


@dataclass
class CountResult:
    counts: dict[str, int]
    points: list[tuple[float, float, str]]
    sums: dict[str, float]
    ms: float
    zoom: float | None = None  # objects' size against training (1.0: as taught; None: unknown)
    rescaled: bool = False  # counted again at a corrected scale
    flags: list[str] = field(default_factory=list)  # "zoom": far outside the taught size


def resolve_threads(threads: int) -> int:
    """The thread count onnxruntime gets: never 0.

    With 0, onnxruntime sizes its pool itself and pins each thread with sched_setaffinity, a call
    the service's seccomp filter (~@resources) answers with SIGSYS. An explicit count pins nothing.
    The Pi 4 and 5 have 4 cores; more threads than cores only adds contention.
    """
    return threads if threads > 0 else max(1, min(4, os.cpu_count() or 1))


def _session(data: bytes, where: str, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = resolve_threads(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises several unrelated types for bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{where}: not a loadable ONNX model ({first[:160]})") from None


def _input_points(d: Decoded, scale: float) -> np.ndarray:
    """The decoded points (original pixels) in the pixels of the frame rescaled by `scale`."""
    return np.array([[x * scale, y * scale] for x, y, _ in d.points], np.float64).reshape(-1, 2)


class Counter:
    """Loads a model file, checks it, warms it up; then counts RGB frames."""

    def __init__(self, data: bytes, where: str = "model", threads: int = 0) -> None:
        self.where = where
        self.sha256 = sha256_bytes(data)
        self.size = len(data)
        scan(data, where)  # external data, control flow: refused before onnxruntime reads it
        self.session = _session(data, where, threads)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.info: ModelInfo = parse_metadata(meta, where)
        self._check_io()
        self.warmup_ms = self._warm_up()

    @classmethod
    def from_file(cls, path: str | Path, threads: int = 0) -> Counter:
        return cls(read_model_bytes(path), str(path), threads)

    @property
    def name(self) -> str:
        return self.info.name

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
        if tuple(out.shape) != (1, len(self.info.classes), cells, cells):
            raise ModelError(
                f"{self.where}: output shape {list(out.shape)} does not fit "
                f"{len(self.info.classes)} classes at stride {self.info.output_stride}"
            )
        if not np.all(np.isfinite(out)):
            raise ModelError(f"{self.where}: smoke inference gave non-finite values")
        return ms

    def density(
        self, rgb: np.ndarray, scale: float | None = None
    ) -> tuple[np.ndarray, tuple[int, int]]:
        return self._density(rescale(rgb, self.info.input_scale if scale is None else scale))

    def _density(self, small: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        info = self.info
        x = model_input(small, info.mean, info.std)
        (out,) = self.session.run(None, {self.input_name: x})
        return out[0], small.shape[:2]

    def decode(
        self, density: np.ndarray, hw: tuple[int, int], scale: float | None = None
    ) -> Decoded:
        params = self.info.decode if scale is None else replace(self.info.decode, scale=scale)
        try:
            return decode(density, self.info.classes, params, hw)
        except ValueError as e:  # NaN, infinite or absurd densities: the model, not the frame
            raise ModelError(f"{self.where}: {e}") from None

    def count(self, rgb: np.ndarray, adapt_zoom: bool = True) -> CountResult:
        """Count at the model's scale; where the model knows its objects' size and the frame's
        objects look another size (the zoom knob turned), count again at a corrected scale."""
        t = time.perf_counter()
        scale = self.info.input_scale
        small = rescale(rgb, scale)
        d = self.decode(*self._density(small))
        ratio, rescaled, ref = None, False, self.info.zoom
        if ref is not None and adapt_zoom:
            pts = _input_points(d, scale)
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
            ratio = zoom_.ratio(grey, pts, ref)
            # At most two recounts: the points of a frame counted at the wrong size sit a
            # little off its objects, so the first correction falls short (1.4x read as 1.31);
            # measured again at the corrected size, the second lands within a few percent.
            s2, step = scale, ratio
            for _ in range(2):
                if not ref.needs_recount(step):
                    break
                assert step is not None
                c = zoom_.MAX_CORRECTION
                h, w = rgb.shape[:2]
                most = max(h * w * scale * scale, zoom_.MAX_RECOUNT_PIXELS)
                top = min(scale * c, float(np.sqrt(most / (h * w))))
                s2 = float(np.clip(s2 / step, scale / c, top))
                small = rescale(rgb, s2)
                d = self.decode(*self._density(small), s2)
                rescaled = True
                pts = _input_points(d, s2)
                step = zoom_.ratio(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), pts, ref)
                if step is None:
                    break
                ratio = scale / s2 * step  # the frame's zoom against training, all told
        flags = ["zoom"] if zoom_.flag(ratio, ref) else []
        ms = (time.perf_counter() - t) * 1000
        z = None if ratio is None else round(ratio, 3)
        return CountResult(d.counts, d.points, d.sums, ms, z, rescaled, flags)

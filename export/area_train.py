"""`scopecount train` for an areas folder (images/ + masks/): float model -> ONNX -> int8 ONNX,
checked (each class's fraction as the float model gives it), with a report and a curve.

The counting side is export/train.py; both share the options, the ONNX quantisation and the
model file format. The task is picked by what the folder holds (export/areas_folder.py).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from device.core.errors import BadInput
from device.core.progress import Progress
from device.measuring.areas import class_map
from device.measuring.modelfile import ModelInfo, write_model_file
from device.measuring.preprocess import normalize, pad_to, padded_input, rescale
from export.area_fit import AreaData, AreaFitConfig, fit_areas, predict_scores
from export.area_metrics import score_images
from export.area_net import OUTPUT_STRIDE, AreaNet
from export.areas_folder import AreasFolder, read_areas_folder
from export.dataset import MEAN, STD
from export.fit import FitResult
from export.net import count_macs
from export.onnx_export import export_module, quantize_int8, write_metadata
from export.plots import training_curve
from export.scaling import fit_budget
from export.task_info import fit_settings, net_model_info
from export.train_options import (
    Int8Refused,
    TrainOptions,
    check_options,
    resolve_device,
    say_stopped_early,
)
from export.train_report import finished, refused_report, sidecar, write_set_fields

# int8 may move a class's share of a calibration image by this much (fraction, 0.5 points).
INT8_TOLERANCE = 0.005
MAX_CALIBRATION = 24
DEFAULT_AREA_SCALE = 0.75  # frame pixels -> network input (chosen on inner validation splits)
# Chosen on two validation splits inside the first held-out split's training sections (GlaS,
# 43 train / 14 validation each): 6000 steps against 3000 gave a gland share error of 4.5 against
# 5.7 points and Dice 0.888 against 0.874 (tests/benchmarks/areas.py --inner); about 10 minutes
# for 85 sections on 2 cores.
DEFAULT_AREA_STEPS = 6000
PAD = 32  # the network halves five times


@dataclass(frozen=True)
class AreasReport:
    model: str | None
    float_model: str
    task: str
    classes: list[str]
    input_scale: float
    steps: int
    stopped_early: bool
    seconds: float
    macs_per_frame: int
    frame: str
    train_fraction_error_pp: dict[str, float]  # on the training images: optimistic
    train_dice: dict[str, float]
    int8_vs_float_pp: float  # the worst class's share change, averaged over calibration images
    curve: list[tuple[int, float, float]]
    int8_refused: bool | None = None
    int8_bytes: int | None = None
    float_bytes: int | None = None
    removed_signatures: list[str] | None = None

    def write(self, out: Path) -> None:
        write_set_fields(self, out)


def prepare_areas(folder: AreasFolder, scale: float) -> AreaData:
    """Every image at the model's scale, normalised and padded; its labels resized alike
    (nearest: a label is never blended), the padding unlabelled."""
    import cv2

    images, labels = [], []
    for s in folder.samples:
        rgb = rescale(s.image(), scale)
        h, w = rgb.shape[:2]
        lab = cv2.resize(s.labels().astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
        images.append(pad_to(normalize(rgb, MEAN, STD), PAD))
        lab = pad_to(lab.astype(np.int64) + 1, PAD, mode="constant") - 1
        labels.append(lab)
    return AreaData(images, labels, [s.name for s in folder.samples])


def plan_scale(n_out: int, opts: TrainOptions, wanted: float) -> tuple[float, int]:
    """The input scale (lowered until a frame fits the cost budget) and a frame's MACs there."""
    net = AreaNet(n_out, opts.width)
    scale = fit_budget(net, wanted, opts.budget_gmac, opts.frame)
    return scale, count_macs(net, *padded_input(opts.frame, scale))


def train_areas(
    folder_path: str | Path, out: str | Path, opts: TrainOptions, scale: float | None = None
) -> AreasReport:
    t0 = time.monotonic()
    out = Path(out)
    check_options(out, opts)
    folder = read_areas_folder(folder_path)
    return train_areas_on(folder, out, opts, scale, t0)


def train_areas_on(
    folder: AreasFolder,
    out: Path,
    opts: TrainOptions,
    scale: float | None = None,
    t0: float | None = None,
    fit_overrides: dict[str, Any] | None = None,
) -> AreasReport:
    """`fit_overrides`: AreaFitConfig fields to set (benchmarks choosing defaults)."""
    t0 = time.monotonic() if t0 is None else t0
    if not folder.samples:
        raise BadInput(f"{folder.root}: no image has a mask: nothing to learn")
    device = resolve_device(opts.device)
    n_out = len(folder.classes) + 1
    wanted = DEFAULT_AREA_SCALE if scale is None else scale
    sc, macs = plan_scale(n_out, opts, wanted)
    limited = " (lowered to fit the cost budget)" if sc < wanted - 1e-9 else ""
    print(
        f"{folder.root}: {len(folder.samples)} images with masks ({len(folder.left_out)} "
        f"without, left out), classes {', '.join(folder.classes)}; scale {sc:.3f}{limited}; "
        f"{opts.steps} steps on {device}",
        file=sys.stderr,
    )
    data = prepare_areas(folder, sc)
    present = sorted({int(v) for lab in data.labels for v in np.unique(lab) if v >= 0})
    if len(present) < 2:
        names = ["background", *folder.classes]
        raise BadInput(
            f"{folder.root}: only {', '.join(names[v] for v in present) or 'nothing'} is "
            "labelled: a model must see at least two kinds of pixel (paint background or "
            "another class too; 0 in a mask with a classes.csv is unlabelled, not background)"
        )
    result = fit_net(data, n_out, opts, device, fit_overrides or {})
    scores = [predict_scores(result.net, im) for im in data.images]
    preds = [_labels_of(s, lab.shape) for s, lab in zip(scores, data.labels, strict=True)]
    train_scores = score_images(preds, data.labels, folder.classes)
    what = f"Measures the areas of {', '.join(folder.classes)}; trained on {folder.root.name}."
    secs = time.monotonic() - t0
    info = net_model_info(
        out, opts, folder, folder.classes, "areas", what, sc, result, device, secs, macs
    )
    info.metrics.update(train_scores.to_json())
    return _export(out, opts, data, result, info, train_scores, macs, t0)


def _labels_of(scores: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    return class_map(scores, OUTPUT_STRIDE, hw, hw).astype(np.int64)


def fit_net(
    data: AreaData, n_out: int, opts: TrainOptions, device: str, overrides: dict[str, Any]
) -> FitResult:
    bar = Progress("train")
    cfg = AreaFitConfig(**fit_settings(opts, device))
    cfg = replace(cfg, **overrides)
    result = fit_areas(data, n_out, cfg, bar.update)
    bar.done(f"{result.steps} steps")
    say_stopped_early(opts, result.steps, result.stopped_early)
    return result


def onnx_fractions(path: Path, inputs: list[np.ndarray], n_out: int) -> np.ndarray:
    """Each label's share of each input (images x labels), as the bench decodes the scores."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = []
    for x in inputs:
        (s,) = sess.run(None, {"image": x})
        hw = (x.shape[2], x.shape[3])
        out.append(np.bincount(class_map(s[0], OUTPUT_STRIDE, hw, hw).ravel(), minlength=n_out))
    arr = np.array(out, np.float64)
    return arr / arr.sum(axis=1, keepdims=True)


def _export(
    out: Path,
    opts: TrainOptions,
    data: AreaData,
    result: FitResult,
    info: ModelInfo,
    train_scores: Any,
    macs: int,
    t0: float,
) -> AreasReport:
    float_path = sidecar(out, ".float.onnx")
    n_out = len(info.classes) + 1
    fh, fw = opts.frame
    with tempfile.TemporaryDirectory() as tmp:
        tmp_float, tmp_int8 = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        export_module(result.net, tmp_float, "scores")
        calib = [np.ascontiguousarray(im.transpose(2, 0, 1)[None]) for im in data.images]
        calib = calib[:MAX_CALIBRATION]
        with quiet_root_logger():  # shape-inference notes on the Resize sizes: not errors
            quantize_int8(tmp_float, tmp_int8, calib)
        moved = np.abs(
            onnx_fractions(tmp_float, calib, n_out) - onnx_fractions(tmp_int8, calib, n_out)
        )
        # Each class's share, averaged over the calibration images (as counting's check sums
        # its counts over them); the largest single image's change is reported beside it.
        diff = float(moved[:, 1:].mean(axis=0).max())
        info.metrics["int8_vs_float_pp_max_image"] = round(float(moved[:, 1:].max()) * 100, 3)
        info.metrics["int8_vs_float_pp"] = round(diff * 100, 3)
        write_metadata(tmp_float, info)
        removed = write_model_file(float_path, tmp_float.read_bytes())
        report = AreasReport(
            model=str(out),
            float_model=str(float_path),
            task="areas",
            classes=list(info.classes),
            input_scale=round(info.input_scale, 4),
            steps=result.steps,
            stopped_early=result.stopped_early,
            seconds=round(time.monotonic() - t0, 1),
            macs_per_frame=macs,
            frame=f"{fw}x{fh}",
            train_fraction_error_pp=train_scores.fraction_error,
            train_dice=train_scores.dice,
            int8_vs_float_pp=round(diff * 100, 3),
            curve=result.curve,
        )
        report.write(out)
        training_curve(result.curve, sidecar(out, ".curve.png"), out.stem)
        if not diff <= INT8_TOLERANCE:  # NaN included
            _refuse(out, float_path, report, diff)
        info.quantization = "int8-static-qoperator-u8s8-per-channel"
        write_metadata(tmp_int8, info)
        removed += write_model_file(out, tmp_int8.read_bytes())
    return finished(report, out, float_path, removed)


@contextlib.contextmanager
def quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _refuse(out: Path, float_path: Path, report: AreasReport, diff: float) -> None:
    gone = refused_report(report, out)
    raise Int8Refused(
        f"int8 moves a class's share of the calibration images by {diff * 100:.2f} percentage "
        f"points from float's on average (limit {INT8_TOLERANCE * 100:.1f}); float model kept at "
        f"{float_path}{gone} (train longer with --steps, or use the float model: it measures "
        "as trained, at about twice the file size)"
    )

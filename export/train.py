"""`scopecount train`: training folder -> float model -> ONNX -> int8 ONNX with report and curve."""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from device.core.errors import BadInput
from device.core.names import check_class
from device.core.progress import Progress
from device.core.text import printable
from device.measuring.decode import DecodeParams
from device.measuring.modelfile import ModelInfo, write_model_file
from device.measuring.preprocess import padded_input
from export.count_scale import (
    fit_count_scale,
    int8_agreement,
    model_sums,
    not_learnt,
    training_sums,
)
from export.dataset import MEAN, STD, Prepared, prepare
from export.fit import FitConfig, FitResult, fit
from export.folder import TrainingFolder, read_folder
from export.net import OUTPUT_STRIDE, build_net, count_macs
from export.onnx_export import export_float, quantize_int8, write_metadata
from export.plots import training_curve
from export.scaling import (
    MAX_UPSCALE,
    budget_scale,
    fit_budget,
    input_scales,
    measure_sizes,
    zoom_reference,
)
from export.train_options import (
    Int8Refused,
    TrainOptions,
    TrainRefused,
    check_options,
    resolve_device,
    say_stopped_early,
)
from export.train_report import TrainReport, finished, refused_report, sidecar
from export.zoom_check import held_back_range, say_left_out
from export.zoom_range import ZoomRange

# int8 may count this much differently from float, image by image; beyond it int8 is refused.
INT8_TOLERANCE = 0.02
MAX_CALIBRATION = 24


@dataclass(frozen=True)
class Scaling:
    """How the training images are shown to the network."""

    size: float  # object diameter in the photographs (px), given or measured
    own: list[float | None]  # per image: its own object size where taken at another zoom
    scale: float  # frame pixels -> network input pixels
    shown_px: float  # the object diameter the network then sees
    scales: list[float]  # per image (one taken at another zoom has its own)
    sigma: float  # target blur at the network's input

    def other_zooms(self, folder: TrainingFolder) -> list[tuple[str, float]]:
        """(image, its object size) for the images taken at another zoom."""
        return [(s.name, o) for s, o in zip(folder.samples, self.own, strict=True) if o is not None]


@dataclass(frozen=True)
class CountFit:
    """How the trained network counts its own training images."""

    count_scale: float  # every count is multiplied by this (the float model's)
    train_mae: float
    learnt: bool
    mean_count: float  # objects per training image


@dataclass(frozen=True)
class Trained:
    """A fitted network and what `train` knows of it, ready to export."""

    result: FitResult
    data: Prepared
    scaling: Scaling
    counted: CountFit
    info: ModelInfo
    macs: int  # per padded reference frame
    started: float  # time.monotonic() when `train` began: the report's seconds


CHECK_SHARE = 1 / 3  # of --minutes, for the zoom check's first model


def train(folder_path: str | Path, out: str | Path, opts: TrainOptions) -> TrainReport:
    """Train, export, quantize, check; returns the report. Raises Int8Refused after writing the
    float model beside `out` when int8 changes the counts too much."""
    t0 = time.monotonic()
    out = Path(out)
    check_options(out, opts)
    folder = read_training_folder(folder_path)
    zr = None
    if opts.zoom_range:
        # Measured once: the zoom check's first model and the final one share the sizes.
        sc = plan_scaling(folder, opts)
        sizes = (sc.size, {s.name: o for s, o in zip(folder.samples, sc.own, strict=True)})
        opts = replace(opts, sizes=sizes)
        check = opts  # --minutes bounds the whole: a third for the first model's training
        if opts.minutes is not None:
            check = replace(opts, minutes=opts.minutes * CHECK_SHARE)
        zr = held_back_range(folder, check, train_on)
        if zr is not None:
            say_left_out(zr, sizes)
        if opts.minutes is not None:
            # the model kept never trains for less than the one thrown away, even where
            # starting, exporting and the check itself took the rest of a short --minutes
            left = opts.minutes - (time.monotonic() - t0) / 60
            opts = replace(opts, minutes=max(left, opts.minutes * CHECK_SHARE))
    return train_on(folder, out, opts, zr, t0)


def train_on(
    folder: TrainingFolder,
    out: Path,
    opts: TrainOptions,
    zr: ZoomRange | None = None,
    t0: float | None = None,
) -> TrainReport:
    """Train on these images (all of a folder, or the part the zoom check trains on)."""
    t0 = time.monotonic() if t0 is None else t0
    device = resolve_device(opts.device)
    sc = plan_scaling(folder, opts)
    data = prepare(folder, folder.classes, sc.scales, sc.sigma)
    say_plan(folder, sc, opts, device)
    result = fit_network(data, len(folder.classes), opts, device)
    training = training_summary(folder, opts, sc, result, device, time.monotonic() - t0)
    if zr is not None:
        training["zoom_range"] = zr.as_json()
    counted = fit_counts(result.net, data)
    ih, iw = padded_input(opts.frame, sc.scale)
    macs = count_macs(result.net, ih, iw)
    info = model_info(out, opts, folder, sc, counted, training, macs / (ih * iw))
    if zr is not None and info.zoom is not None:
        # as the report and the training record give them (3 decimals)
        info.zoom = replace(info.zoom, flag_lo=round(zr.lo, 3), flag_hi=round(zr.hi, 3))
    report = export_models(out, opts, Trained(result, data, sc, counted, info, macs, t0))
    if zr is not None:
        report = replace(report, zoom_range=zr.as_json() | {"text": zr.describe()})
        report.write(out)
    return report


def read_training_folder(folder_path: str | Path) -> TrainingFolder:
    """The folder, refused before any work where there is nothing to learn or a class name no
    model file may hold; images without points are said (they are taught as empty)."""
    folder = read_folder(folder_path)
    folder.require_annotated("nothing to learn")
    if not folder.classes:
        raise BadInput(f"{folder.root / 'points.csv'}: no points, nothing to learn")
    empty = [s.name for s in folder.samples if not s.points]
    if empty:
        shown = ", ".join(printable(n) for n in empty[:5])
        shown += f" and {len(empty) - 5} more" if len(empty) > 5 else ""
        print(
            f"note: {len(empty)} image(s) have no rows in points.csv and are taught as holding "
            f"no object: {shown}",
            file=sys.stderr,
        )
    for c in folder.classes:  # the model file will hold them: refuse now, not after training
        check_class(c, str(folder.root / "points.csv"))
    return folder


def plan_scaling(folder: TrainingFolder, opts: TrainOptions) -> Scaling:
    """The object size, and the input scale that shows objects at --object-px within the cost
    budget per frame."""
    if opts.sizes is not None:
        size, by_name = opts.sizes
        own = [by_name.get(s.name) for s in folder.samples]
    elif opts.object_size is not None:
        size, own = opts.object_size, [None] * len(folder.samples)
    else:
        size, own = measure_sizes(folder)
    shape = build_net(opts.arch, len(folder.classes), opts.width)  # for its MACs only
    per_pixel = count_macs(shape, 256, 256) / 65536
    max_scale = fit_budget(
        shape,
        budget_scale(per_pixel, opts.budget_gmac, opts.frame),
        opts.budget_gmac,
        opts.frame,
    )
    scale, shown_px, scales = input_scales(size, own, opts.object_px, max_scale)
    return Scaling(size, own, scale, shown_px, scales, max(1.0, opts.sigma_frac * shown_px))


def say_plan(folder: TrainingFolder, sc: Scaling, opts: TrainOptions, device: str) -> None:
    others = sc.other_zooms(folder)
    if others:
        print(
            f"{len(others)} image(s) taken at another zoom, rescaled to match: "
            + ", ".join(f"{printable(n)} (objects {o:.1f} px)" for n, o in others),
            file=sys.stderr,
        )
    wish = min(opts.object_px / sc.size, MAX_UPSCALE)
    limited = " (lowered to fit the cost budget)" if sc.scale < wish - 1e-9 else ""
    print(
        f"{folder.root}: {len(folder.samples)} images ({len(folder.left_out)} left out, not "
        f"annotated), {folder.n_objects} objects, "
        f"classes {', '.join(folder.classes)}; object size {sc.size:.1f} px, scale "
        f"{sc.scale:.3f}{limited}; {opts.steps} steps on {device}",
        file=sys.stderr,
    )


def fit_network(data: Prepared, n_classes: int, opts: TrainOptions, device: str) -> FitResult:
    bar = Progress("train")
    cfg = FitConfig(
        steps=opts.steps,
        max_seconds=None if opts.minutes is None else opts.minutes * 60,
        width=opts.width,
        arch=opts.arch,
        threads=opts.threads,
        seed=opts.seed,
        device=device,
        scale_jitter=opts.scale_jitter,
    )
    result = fit(data, n_classes, cfg, bar.update)
    bar.done(f"{result.steps} steps")
    say_stopped_early(opts, result.steps, result.stopped_early)
    return result


def fit_counts(net: torch.nn.Module, data: Prepared) -> CountFit:
    """The count correction that makes the network's counts of its training images match the
    marks on average, and the error left after it."""
    pred = training_sums(net, data)
    if not np.all(np.isfinite(pred)):
        raise TrainRefused(
            "training diverged (the network's counts on its training images are not finite); "
            "try another --seed or fewer --steps"
        )
    true = data.counts
    count_scale = fit_count_scale(pred, true)
    train_mae = float(np.abs(pred * count_scale - true).sum(axis=1).mean())
    learnt = not not_learnt(pred * count_scale, true)
    return CountFit(count_scale, train_mae, learnt, float(true.sum(axis=1).mean()))


def training_summary(
    folder: TrainingFolder,
    opts: TrainOptions,
    sc: Scaling,
    result: FitResult,
    device: str,
    fit_s: float,
) -> dict[str, Any]:
    """The model file's scopecount.training: what it learnt from, and how."""
    return {
        "folder": folder.root.name,
        "images": len(folder.samples),
        "objects": folder.n_objects,
        "per_class": {c: sum(s.count(c) for s in folder.samples) for c in folder.classes},
        "content_sha256": folder.content_hash(),
        "synthetic": opts.synthetic,
        "seconds": round(fit_s),
        "steps": result.steps,
        "steps_planned": opts.steps,
        "stopped_early": result.stopped_early,
        "arch": opts.arch,
        "width": opts.width,
        "budget_gmac": opts.budget_gmac,
        "sigma_px": sc.sigma,
        "object_px": round(sc.shown_px, 2),
        "scale_jitter": opts.scale_jitter,
        "device": device,
        # with the folder and the settings above, what makes the same model again
        "threads": opts.threads,
        "seed": opts.seed,
        "other_zoom": {n: round(o, 2) for n, o in sc.other_zooms(folder)},
    }


def model_info(
    out: Path,
    opts: TrainOptions,
    folder: TrainingFolder,
    sc: Scaling,
    counted: CountFit,
    training: dict[str, Any],
    macs_per_input_pixel: float,
) -> ModelInfo:
    """The metadata both model files carry (export adds the int8 figures)."""
    return ModelInfo(
        name=opts.name or out.stem,
        classes=folder.classes,
        object_size_px=sc.size,
        input_scale=sc.scale,
        mean=MEAN,
        std=STD,
        output_stride=OUTPUT_STRIDE,
        decode=DecodeParams(OUTPUT_STRIDE, sc.scale, counted.count_scale, sc.sigma / OUTPUT_STRIDE),
        training=training,
        metrics={
            "train_mae": round(counted.train_mae, 3),
            "learnt": counted.learnt,
            "note": "train_mae is on the training images",
            # Fully convolutional: cost grows with the pixels fed in. Frame MACs =
            # this * (frame height * input_scale) * (frame width * input_scale).
            "macs_per_input_pixel": round(macs_per_input_pixel, 2),
        },
        description=opts.description
        or f"Counts {', '.join(folder.classes)}; trained on {folder.root.name}.",
        zoom=zoom_reference(folder, sc.scales, sc.shown_px),
    )


def export_models(out: Path, opts: TrainOptions, t: Trained) -> TrainReport:
    """The float model beside `out`, the int8 model at `out` when it counts as the float one
    does, and the report (written at each step, so that a refusal leaves one too)."""
    float_path = sidecar(out, ".float.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_float, tmp_int8 = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        int8_bias, diff = export_and_quantize(t, tmp_float, tmp_int8)
        removed = write_model_file(float_path, tmp_float.read_bytes())
        report = make_report(out, float_path, opts, t, int8_bias, diff)
        report.write(out)
        training_curve(t.result.curve, sidecar(out, ".curve.png"), out.stem)
        if not diff <= INT8_TOLERANCE:  # NaN included
            refuse_int8(out, float_path, report, diff)
        info = t.info
        info.quantization = "int8-static-qoperator-u8s8-per-channel"
        info.decode = replace(info.decode, count_scale=t.counted.count_scale * int8_bias)
        info.metrics["int8_correction"] = round(int8_bias, 5)
        write_metadata(tmp_int8, info)
        removed += write_model_file(out, tmp_int8.read_bytes())
    return finished(report, out, float_path, removed)


def export_and_quantize(t: Trained, tmp_float: Path, tmp_int8: Path) -> tuple[float, float]:
    """Both models with their metadata, int8 calibrated on the training images; returns the
    int8 correction and how far int8 counts from float image by image after it."""
    export_float(t.result.net, tmp_float)
    calib = [np.ascontiguousarray(im.transpose(2, 0, 1)[None]) for im in t.data.images]
    calib = calib[:MAX_CALIBRATION]
    quantize_int8(tmp_float, tmp_int8, calib)
    write_metadata(tmp_float, t.info)
    write_metadata(tmp_int8, t.info)
    shapes = (t.data.shapes or [None] * len(calib))[: len(calib)]
    int8_bias, diff = int8_agreement(
        model_sums(tmp_float, calib, shapes), model_sums(tmp_int8, calib, shapes)
    )
    t.info.metrics["int8_vs_float"] = round(float(diff), 5)
    write_metadata(tmp_float, t.info)
    return int8_bias, diff


def make_report(
    out: Path,
    float_path: Path,
    opts: TrainOptions,
    t: Trained,
    int8_bias: float,
    diff: float,
) -> TrainReport:
    c, fh, fw = t.counted, *opts.frame
    return TrainReport(
        model=str(out),
        float_model=str(float_path),
        object_size_px=round(t.scaling.size, 2),
        input_scale=round(t.scaling.scale, 4),
        count_scale=round(c.count_scale, 4),  # the float model's
        count_scale_int8=round(c.count_scale * int8_bias, 4),
        train_mae=round(c.train_mae, 3),
        train_rel_error=round(c.train_mae / max(c.mean_count, 1e-6), 4),
        int8_vs_float=round(float(diff), 5),
        int8_correction=round(int8_bias, 5),
        steps=t.result.steps,
        stopped_early=t.result.stopped_early,
        learnt=c.learnt,
        arch=opts.arch,
        seconds=round(time.monotonic() - t.started, 1),
        macs_per_frame=t.macs,
        frame=f"{fw}x{fh}",
        curve=t.result.curve,
    )


def refuse_int8(out: Path, float_path: Path, report: TrainReport, diff: float) -> NoReturn:
    gone = refused_report(report, out)
    raise Int8Refused(
        f"int8 counts differ from float by {diff * 100:.2f}% on the calibration images "
        f"(limit {INT8_TOLERANCE * 100:.0f}%); float model kept at {float_path}{gone}"
    )

"""`scopecount train`: training folder -> float model -> ONNX -> int8 ONNX with report and curve."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from device.core.errors import BadInput
from device.core.names import check_class
from device.core.progress import Progress
from device.core.writable import writable_file
from device.measuring.decode import DecodeParams
from device.measuring.modelfile import ModelInfo, drop_stale_signature, write_model_file
from device.measuring.pi_cost import REFERENCE_FRAME_HW
from device.measuring.preprocess import padded_input
from export.count_scale import (
    fit_count_scale,
    int8_agreement,
    model_sums,
    not_learnt,
    training_sums,
)
from export.dataset import MEAN, STD, prepare
from export.fit import FitConfig, fit
from export.folder import read_folder
from export.net import ARCHS, OUTPUT_STRIDE, build_net, count_macs
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

# Objects are shown to the network at this diameter (model-input pixels). Larger lets the
# stride-4 output separate crowded objects, at a cost per frame that grows with its square:
# bone marrow held out (two random splits) gave MAE 6.4 at 12 px, 6.2 at 16, 6.0 at 20, 5.1 at
# 24, 4.5 at 32 (two seeds alike) and 6.3 at 40. A smaller --object-px makes a faster model.
DEFAULT_OBJECT_PX = 32.0
INT8_TOLERANCE = 0.02
MAX_CALIBRATION = 24


# Every model `train` makes has a bounded cost per 1280x960 frame: the input scale is lowered
# until the network's MACs fit this budget. Seconds per MAC differ per design
# (device/measuring/pi_cost.py): at 2 GMAC the lite network is estimated at about 0.7 s on a
# Pi 4, the unet at about 0.3 s.
DEFAULT_BUDGET_GMAC = 2.0
# Chosen on validation splits inside the first bench split's training images (never on the
# images the bench reports), 6000 steps against 3000: mosquito eggs held-out MRE 1.29% against
# 3.94% (3 splits), bone marrow MAE 8.44 against 9.19 (4 splits), adipocytes 12.10 against
# 12.11 (4 splits). Training takes twice as long: minutes on a laptop.
DEFAULT_STEPS = 6000


@dataclass
class TrainOptions:
    steps: int = DEFAULT_STEPS
    minutes: float | None = None  # an upper bound on training time; None: no limit
    object_size: float | None = None  # measured from the annotations when None
    object_px: float = DEFAULT_OBJECT_PX
    budget_gmac: float = DEFAULT_BUDGET_GMAC
    arch: str = "lite"
    width: int = 24
    threads: int = 2
    sigma_frac: float = 0.5  # target blur at the model's input, as a fraction of the object size
    scale_jitter: float = 0.2  # train on objects up to 20% larger or smaller than measured
    name: str | None = None
    device: str = "auto"
    seed: int = 0
    description: str = ""
    synthetic: bool = False
    frame: tuple[int, int] = REFERENCE_FRAME_HW  # for the MACs line


class TrainRefused(Exception):
    """Training ran but its result is not fit to count with (exit 1, one line)."""


class Int8Refused(TrainRefused):
    """The int8 model counts differently from the float model by more than the tolerance."""


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput(f"--device {name}: no CUDA GPU is available here (use cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise BadInput(f"--device {name}: expected auto, cpu or cuda")
    return name


def sidecar(out: Path, suffix: str) -> Path:
    return out.with_name(out.stem + suffix)


def check_options(out: Path, opts: TrainOptions) -> None:
    """Every option checked before any work, so a typo costs seconds, not a training run."""
    if out.suffix != ".onnx":
        raise BadInput(f"--out {out}: the model file name must end in .onnx")
    writable_file(out, "--out")  # now, not after minutes of training
    if not 1 <= opts.steps <= 1_000_000:
        raise BadInput(f"--steps {opts.steps}: must be 1 to 1000000")
    if opts.minutes is not None and not 0 < opts.minutes < 100_000:
        raise BadInput(f"--minutes {opts.minutes}: must be positive")
    if opts.object_size is not None and not 1.0 <= opts.object_size <= 1000.0:
        raise BadInput(f"--object-size {opts.object_size}: must be 1 to 1000 pixels")
    if not 4.0 <= opts.object_px <= 64.0:
        raise BadInput(f"--object-px {opts.object_px}: must be 4 to 64 pixels")
    if not 0.05 <= opts.budget_gmac <= 1000.0:
        raise BadInput(f"--budget-gmac {opts.budget_gmac}: must be 0.05 to 1000")
    if opts.arch not in ARCHS:
        raise BadInput(f"--arch {opts.arch}: expected one of {', '.join(ARCHS)}")
    if not 4 <= opts.width <= 128:
        raise BadInput(f"--width {opts.width}: must be 4 to 128")
    if not 1 <= opts.threads <= 256:
        raise BadInput(f"--threads {opts.threads}: must be 1 to 256")


def train(folder_path: str | Path, out: str | Path, opts: TrainOptions) -> dict:
    """Train, export, quantize, check; returns the report. Raises Int8Refused after writing the
    float model beside `out` when int8 changes the counts too much."""
    t0 = time.monotonic()
    out = Path(out)
    check_options(out, opts)
    folder = read_folder(folder_path)
    folder.require_annotated("nothing to learn")
    if not folder.classes:
        raise BadInput(f"{folder.root / 'points.csv'}: no points, nothing to learn")
    empty = [s.name for s in folder.samples if not s.points]
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        print(
            f"note: {len(empty)} image(s) have no rows in points.csv and are taught as holding "
            f"no object: {shown}",
            file=sys.stderr,
        )
    for c in folder.classes:  # the model file will hold them: refuse now, not after training
        check_class(c, str(folder.root / "points.csv"))
    device = resolve_device(opts.device)
    if opts.object_size is not None:
        size, own = opts.object_size, [None] * len(folder.samples)
    else:
        size, own = measure_sizes(folder)
    fh, fw = opts.frame
    shape = build_net(opts.arch, len(folder.classes), opts.width)  # for its MACs only
    per_pixel = count_macs(shape, 256, 256) / 65536
    max_scale = fit_budget(
        shape,
        budget_scale(per_pixel, opts.budget_gmac, opts.frame),
        opts.budget_gmac,
        opts.frame,
    )
    scale, shown_px, scales = input_scales(size, own, opts.object_px, max_scale)
    sigma = max(1.0, opts.sigma_frac * shown_px)
    data = prepare(folder, folder.classes, scales, sigma)
    others = [(s.name, o) for s, o in zip(folder.samples, own, strict=True) if o is not None]
    if others:
        print(
            f"{len(others)} image(s) taken at another zoom, rescaled to match: "
            + ", ".join(f"{n} (objects {o:.1f} px)" for n, o in others),
            file=sys.stderr,
        )
    wish = min(opts.object_px / size, MAX_UPSCALE)
    limited = " (lowered to fit the cost budget)" if scale < wish - 1e-9 else ""
    print(
        f"{folder.root}: {len(folder.samples)} images ({len(folder.left_out)} left out, not "
        f"annotated), {folder.n_objects} objects, "
        f"classes {', '.join(folder.classes)}; object size {size:.1f} px, scale {scale:.3f}"
        f"{limited}; {opts.steps} steps on {device}",
        file=sys.stderr,
    )
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
    result = fit(data, len(folder.classes), cfg, bar.update)
    bar.done(f"{result.steps} steps")
    if result.stopped_early:
        print(
            f"warning: --minutes {opts.minutes} stopped training after {result.steps} of "
            f"{opts.steps} steps: the model is weaker than a full run (said in its metadata)",
            file=sys.stderr,
        )
    net = result.net
    fit_s = time.monotonic() - t0

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
    ih, iw = padded_input(opts.frame, scale)
    macs = count_macs(net, ih, iw)
    zoom = zoom_reference(folder, scales, shown_px)

    info = ModelInfo(
        name=opts.name or out.stem,
        classes=folder.classes,
        object_size_px=size,
        input_scale=scale,
        mean=MEAN,
        std=STD,
        output_stride=OUTPUT_STRIDE,
        decode=DecodeParams(OUTPUT_STRIDE, scale, count_scale, sigma / OUTPUT_STRIDE),
        training={
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
            "sigma_px": sigma,
            "object_px": round(shown_px, 2),
            "scale_jitter": opts.scale_jitter,
            "device": device,
            "other_zoom": {n: round(o, 2) for n, o in others},
        },
        metrics={
            "train_mae": round(train_mae, 3),
            "learnt": learnt,
            "note": "train_mae is on the training images",
            # Fully convolutional: cost grows with the pixels fed in. Frame MACs =
            # this * (frame height * input_scale) * (frame width * input_scale).
            "macs_per_input_pixel": round(macs / (ih * iw), 2),
        },
        description=opts.description
        or f"Counts {', '.join(folder.classes)}; trained on {folder.root.name}.",
        zoom=zoom,
    )
    float_path = sidecar(out, ".float.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_float = Path(tmp) / "float.onnx"
        export_float(net, tmp_float)
        calib = [np.ascontiguousarray(im.transpose(2, 0, 1)[None]) for im in data.images]
        calib = calib[:MAX_CALIBRATION]
        tmp_int8 = Path(tmp) / "int8.onnx"
        quantize_int8(tmp_float, tmp_int8, calib)
        write_metadata(tmp_float, info)
        write_metadata(tmp_int8, info)
        shapes = (data.shapes or [None] * len(calib))[: len(calib)]
        int8_bias, diff = int8_agreement(
            model_sums(tmp_float, calib, shapes), model_sums(tmp_int8, calib, shapes)
        )
        info.metrics["int8_vs_float"] = round(float(diff), 5)
        write_metadata(tmp_float, info)
        removed = write_model_file(float_path, tmp_float.read_bytes())
        report = {
            "model": str(out),
            "float_model": str(float_path),
            "object_size_px": round(size, 2),
            "input_scale": round(scale, 4),
            "count_scale": round(count_scale, 4),  # the float model's
            "count_scale_int8": round(count_scale * int8_bias, 4),
            "train_mae": round(train_mae, 3),
            "train_rel_error": round(train_mae / max(float(true.sum(axis=1).mean()), 1e-6), 4),
            "int8_vs_float": round(float(diff), 5),
            "int8_correction": round(int8_bias, 5),
            "steps": result.steps,
            "stopped_early": result.stopped_early,
            "learnt": learnt,
            "arch": opts.arch,
            "seconds": round(time.monotonic() - t0, 1),
            "macs_per_frame": macs,
            "frame": f"{fw}x{fh}",
            "curve": result.curve,
        }
        _write_report(out, report)
        training_curve(result.curve, sidecar(out, ".curve.png"), out.stem)
        if not diff <= INT8_TOLERANCE:  # NaN included
            # A model left at --out would be the previous one, silently counted with.
            gone = ""
            if out.exists():
                drop_stale_signature(out)
                out.unlink()
                gone = f"; the earlier model at {out} was removed"
            _write_report(out, {**report, "model": None, "int8_refused": True})
            raise Int8Refused(
                f"int8 counts differ from float by {diff * 100:.2f}% on the calibration images "
                f"(limit {INT8_TOLERANCE * 100:.0f}%); float model kept at {float_path}{gone}"
            )
        info.quantization = "int8-static-qoperator-u8s8-per-channel"
        info.decode = replace(info.decode, count_scale=count_scale * int8_bias)
        info.metrics["int8_correction"] = round(int8_bias, 5)
        write_metadata(tmp_int8, info)
        removed += write_model_file(out, tmp_int8.read_bytes())
    report["removed_signatures"] = [str(p) for p in removed]
    report["int8_bytes"] = out.stat().st_size
    report["float_bytes"] = float_path.stat().st_size
    _write_report(out, report)
    return report


def _write_report(out: Path, report: dict) -> None:
    sidecar(out, ".report.json").write_text(json.dumps(report, indent=1) + "\n")

"""The model file's description of an areas or landmarks model (both on export/area_net.py's
network): what it was trained on, with what, and how its maps are read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device.measuring.decode import DecodeParams
from device.measuring.modelfile import ModelInfo
from device.measuring.preprocess import padded_input
from export.area_net import OUTPUT_STRIDE, AreaNet
from export.dataset import MEAN, STD
from export.fit import FitResult
from export.train_options import TrainOptions


def fit_settings(opts: TrainOptions, device: str) -> dict[str, Any]:
    """The training loop's settings that come from `train`'s options (both tasks' configs)."""
    return {
        "steps": opts.steps,
        "max_seconds": None if opts.minutes is None else opts.minutes * 60,
        "width": opts.width,
        "threads": opts.threads,
        "seed": opts.seed,
        "device": device,
    }


def net_model_info(
    out: Path,
    opts: TrainOptions,
    folder: Any,  # AreasFolder or LandmarksFolder: root, samples, content_hash()
    classes: list[str],
    task: str,
    description: str,
    scale: float,
    result: FitResult,
    device: str,
    seconds: float,
    macs: int,
) -> ModelInfo:
    ih, iw = padded_input(opts.frame, scale)
    training: dict[str, Any] = {
        "folder": folder.root.name,
        "images": len(folder.samples),
        "content_sha256": folder.content_hash(),
        "synthetic": opts.synthetic,
        "seconds": round(seconds),
        "steps": result.steps,
        "steps_planned": opts.steps,
        "stopped_early": result.stopped_early,
        "arch": AreaNet.arch,
        "width": opts.width,
        "budget_gmac": opts.budget_gmac,
        "device": device,
        # with the folder and the settings above, what makes the same model again
        "threads": opts.threads,
        "seed": opts.seed,
    }
    return ModelInfo(
        name=opts.name or out.stem,
        classes=list(classes),
        object_size_px=OUTPUT_STRIDE / scale,  # the frame pixels one output cell covers
        input_scale=scale,
        mean=MEAN,
        std=STD,
        output_stride=OUTPUT_STRIDE,
        decode=DecodeParams(OUTPUT_STRIDE, scale, 1.0, 1.0),
        training=training,
        metrics={"macs_per_input_pixel": round(macs / (ih * iw), 2), "learnt": True},
        description=opts.description or description,
        task=task,
    )

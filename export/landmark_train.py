"""`scopecount train` for a landmarks folder (images/ + landmarks.csv): float model -> ONNX ->
int8 ONNX, checked (each landmark where the float model puts it, within 0.3 px on average),
with a report and a curve.

The model file carries, beside the heatmap network, the training wings' Procrustes mean shape
and the limits of the `unsure` and `shape` flags (scopecount.landmarks).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from device.core.errors import BadInput
from device.core.progress import Progress
from device.measuring.landmark_meter import META_KEY, finer, params_to_meta
from device.measuring.landmark_refine import LocalLooks, grey, learn_looks
from device.measuring.landmarks import LandmarkParams, read_views, to_frame
from device.measuring.modelfile import ModelInfo, write_model_file
from device.measuring.preprocess import normalize, pad_to, padded_input, rescale
from device.measuring.shapes import centroid_size, mean_shape, superimpose
from export.area_net import OUTPUT_STRIDE, AreaNet
from export.area_train import MAX_CALIBRATION, quiet_root_logger
from export.dataset import MEAN, STD
from export.fit import FitResult
from export.landmark_fit import LandmarkData, LandmarkFitConfig, fit_landmarks, predict_heat
from export.landmark_metrics import wing_length
from export.landmarks_folder import LandmarksFolder, read_landmarks_folder
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

INT8_TOLERANCE_PX = 0.3  # mean landmark shift, int8 against float, in image pixels
# Where all-int8 moves the landmarks too far, the decoder (then the stem too) stays float: on a
# validation split inside drosophila-wings 0.54 px all-int8, 0.30 decoder float, 0.28 with stem.
INT8_LADDER: tuple[tuple[str, ...], ...] = ((), ("/up", "/head"), ("/stem", "/up", "/head"))
PART_WORDS = {"stem": "the first layer", "up": "the decoder", "head": "the heatmap layer"}
DEFAULT_LANDMARK_SCALE = 0.5
MIN_WING_SIZE = 1.0  # pixels of centroid size: a smaller wing has no look to learn
DEFAULT_LANDMARK_STEPS = 4000
# Each frame is read as given and in three flipped copies (device/measuring/landmarks.py FLIPS).
DEFAULT_LANDMARK_VIEWS = 4
PAD = 32
# Flags: a peak below UNSURE is a landmark to check; below ABSENT it is not in the frame. A
# configuration further from the mean shape than SHAPE_FACTOR times the farthest training wing
# is flagged `shape` (torn, folded, not a wing).
UNSURE, ABSENT, SHAPE_FACTOR = 0.3, 0.1, 2.0
MAX_SHAPE_LIMIT = 0.3
# A model whose training wings' mean error is over this share of the wing length did not learn
# (every result then carries the not-learnt flag and warning, as a counting model's does).
LEARNT_PCT = 5.0


@dataclass(frozen=True)
class LandmarksReport:
    model: str | None
    float_model: str
    task: str
    landmarks: list[str]
    input_scale: float
    steps: int
    stopped_early: bool
    seconds: float
    macs_per_frame: int
    frame: str
    train_error_px: float  # mean landmark error on the training images: optimistic
    train_error_pct_wing: float  # the same, in % of the wing length
    learnt: bool  # train_error_pct_wing within LEARNT_PCT
    int8_vs_float_px: float
    max_shape_distance: float
    curve: list[tuple[int, float, float]]
    int8_refused: bool | None = None
    int8_float_parts: str | None = None  # the network's parts left float (names, commas)
    int8_bytes: int | None = None
    float_bytes: int | None = None
    removed_signatures: list[str] | None = None

    def write(self, out: Path) -> None:
        write_set_fields(self, out)


def float_parts_words(parts: str | None) -> str:
    """`stem,up,head` as a person reads it: the first layer, the decoder, the heatmap layer."""
    names = [PART_WORDS.get(p, p) for p in (parts or "").split(",") if p]
    return ", ".join(names) if names else "nothing"


# Each try of the ladder in words: "all-int8, then with the decoder, the heatmap layer float, ..."
LADDER_WORDS = ", then ".join(
    f"with {float_parts_words(','.join(k.strip('/') for k in keep))} float" if keep else "all-int8"
    for keep in INT8_LADDER
)


def prepare_landmarks(
    folder: LandmarksFolder, scale: float
) -> tuple[LandmarkData, list[np.ndarray]]:
    """Every image at the model's scale, normalised, with its landmarks in those pixels; and
    every image in grey as given (its landmarks' looks are learnt there), each read once."""
    images, points, greys = [], [], []
    for s in folder.samples:
        rgb = s.image()
        images.append(normalize(rescale(rgb, scale), MEAN, STD))
        points.append((s.points + 0.5) * scale - 0.5)  # pixel centres, as the resize maps them
        greys.append(grey(rgb))
    return LandmarkData(images, points, [s.name for s in folder.samples]), greys


def shape_params(folder: LandmarksFolder) -> LandmarkParams:
    """The hand-placed wings' mean shape; the `shape` limit as far as the farthest of them
    (set again by with_predicted once the model has placed the training wings itself)."""
    configs = [s.points for s in folder.samples]
    try:
        mean = mean_shape(configs)
    except ValueError as e:
        raise BadInput(f"{folder.root}: {e}") from None
    return LandmarkParams(mean, _limit(SHAPE_FACTOR * _farthest(configs, mean)), UNSURE, ABSENT)


def wing_looks(
    folder: LandmarksFolder, greys: list[np.ndarray], mean: np.ndarray
) -> LocalLooks | None:
    """Each landmark's mean look over the training wings, at their median size; None where no
    whole wing has a size (every landmark on one point)."""
    # whole wings only: a torn one's size counts fewer landmarks, a degenerate one's is 0
    sizes = [centroid_size(s.points) for s in folder.samples if np.isfinite(s.points).all()]
    wing = float(np.median([c for c in sizes if c >= MIN_WING_SIZE] or [0.0]))
    if wing < MIN_WING_SIZE:
        return None
    return learn_looks(
        ((g, s.points) for g, s in zip(greys, folder.samples, strict=True)), mean * wing
    )


def _farthest(configs: list[np.ndarray], mean: np.ndarray) -> float:
    """The largest Procrustes distance to the mean of the configurations that can be compared
    with it (a torn wing of two landmarks cannot)."""
    far = 0.0
    for c in configs:
        try:
            far = max(far, superimpose(c, mean, allow_mirror=True).distance)
        except ValueError:
            continue
    return far


def _limit(d: float) -> float:
    # 0.3: a folded wing lies near 0.9; the most any two shapes can lie apart is sqrt(2)
    return min(MAX_SHAPE_LIMIT, max(0.05, d))


def with_predicted(params: LandmarkParams, predicted: list[np.ndarray]) -> LandmarkParams:
    """The `shape` limit widened to the model's own placing: a good wing the model places
    with its usual error must not be flagged, so the limit is also SHAPE_FACTOR times the
    farthest of the training wings as the model placed them."""
    wider = SHAPE_FACTOR * _farthest(predicted, params.mean_shape)
    return replace(params, max_distance=_limit(max(params.max_distance, wider)))


def decode_image(
    run: Callable[[np.ndarray], np.ndarray],
    small: np.ndarray,
    gray: np.ndarray,
    scale: float,
    params: LandmarkParams,
) -> np.ndarray:
    """(L, 2) landmarks in the pixels of `gray` (the image `small` was resized from), read as
    the bench reads them (NaN where no view finds one). `small`: normalised, at the model's
    scale; `run`: its heatmaps, padding included."""
    uv, _ = read_views(run, small, OUTPUT_STRIDE, params.mean_shape, params.views)
    pts, _ = to_frame(uv, np.ones(len(uv)), scale, OUTPUT_STRIDE, gray.shape[:2], -1e9)
    if params.looks is not None:
        pts = finer(pts, gray, params.looks)
    return np.array([p if p is not None else (np.nan, np.nan) for p in pts], np.float64)


def train_landmarks(
    folder_path: str | Path, out: str | Path, opts: TrainOptions, scale: float | None = None
) -> LandmarksReport:
    t0 = time.monotonic()
    out = Path(out)
    check_options(out, opts)
    return train_landmarks_on(read_landmarks_folder(folder_path), out, opts, scale, t0)


def train_landmarks_on(
    folder: LandmarksFolder,
    out: Path,
    opts: TrainOptions,
    scale: float | None = None,
    t0: float | None = None,
    fit_overrides: dict[str, Any] | None = None,
    views: int = DEFAULT_LANDMARK_VIEWS,
) -> LandmarksReport:
    """`fit_overrides`: LandmarkFitConfig fields to set, `views`: flipped copies read per frame
    (benchmarks choosing defaults)."""
    t0 = time.monotonic() if t0 is None else t0
    n = len(folder.names)
    if n < 3:
        what = "1 landmark" if n == 1 else f"{n} landmarks"
        raise BadInput(f"{folder.root}: {what}: a shape needs 3 or more")
    full = [s for s in folder.samples if np.isfinite(s.points).all()]
    if len(full) < 2:
        raise BadInput(
            f"{folder.root}: {len(full)} image(s) with every landmark placed: at least 2 are "
            "needed to learn the shape"
        )
    device = resolve_device(opts.device)
    wanted = DEFAULT_LANDMARK_SCALE if scale is None else scale
    net = AreaNet(n, opts.width)
    # every view is one more run of the network on the frame: the budget is shared
    sc = fit_budget(net, wanted, opts.budget_gmac / views, opts.frame)
    macs = views * count_macs(net, *padded_input(opts.frame, sc))
    limited = " (lowered to fit the cost budget)" if sc < wanted - 1e-9 else ""
    print(
        f"{folder.root}: {len(folder.samples)} images with landmarks ({len(folder.left_out)} "
        f"without, left out), {n} landmarks; scale {sc:.3f}{limited}; {opts.steps} steps on "
        f"{device}",
        file=sys.stderr,
    )
    data, greys = prepare_landmarks(folder, sc)
    result = _fit(data, n, opts, device, fit_overrides or {})
    params = replace(shape_params(folder), views=views)
    params = replace(params, looks=wing_looks(folder, greys, params.mean_shape))
    errors, placed = [], []

    def run(img: np.ndarray) -> np.ndarray:
        return predict_heat(result.net, pad_to(img, PAD))

    for s, img, g in zip(folder.samples, data.images, greys, strict=True):
        got = decode_image(run, img, g, sc, params)
        errors.append(np.linalg.norm(got - s.points, axis=1))
        placed.append(got)
    train_error = float(np.nanmean(np.concatenate(errors)))
    params = with_predicted(params, placed)
    what = f"Places {n} landmarks; trained on {folder.root.name}."
    secs = time.monotonic() - t0
    info = net_model_info(
        out, opts, folder, folder.names, "landmarks", what, sc, result, device, secs, macs
    )
    info.extra[META_KEY] = params_to_meta(params)
    info.metrics["train_error_px"] = round(train_error, 3)
    length, _ = wing_length([s.points for s in folder.samples])
    info.metrics["train_error_pct_wing"] = round(train_error / length * 100, 2)
    info.metrics["learnt"] = bool(train_error / length * 100 <= LEARNT_PCT)
    report = LandmarksReport(
        model=str(out),
        float_model=str(sidecar(out, ".float.onnx")),
        task="landmarks",
        landmarks=list(folder.names),
        input_scale=round(sc, 4),
        steps=result.steps,
        stopped_early=result.stopped_early,
        seconds=0.0,
        macs_per_frame=macs,
        frame=f"{opts.frame[1]}x{opts.frame[0]}",
        train_error_px=round(train_error, 3),
        train_error_pct_wing=info.metrics["train_error_pct_wing"],
        learnt=info.metrics["learnt"],
        int8_vs_float_px=float("nan"),
        max_shape_distance=round(params.max_distance, 4),
        curve=result.curve,
    )
    calib = list(zip(data.images[:MAX_CALIBRATION], greys, strict=False))
    return _export(out, result, info, report, calib, params, t0)


def _fit(
    data: LandmarkData, n: int, opts: TrainOptions, device: str, overrides: dict[str, Any]
) -> FitResult:
    bar = Progress("train")
    cfg = LandmarkFitConfig(**fit_settings(opts, device))
    result = fit_landmarks(data, n, replace(cfg, **overrides), bar.update)
    bar.done(f"{result.steps} steps")
    say_stopped_early(opts, result.steps, result.stopped_early)
    return result


Calibration = list[tuple[np.ndarray, np.ndarray]]  # (at the model's scale, grey as given)


def onnx_landmarks(
    path: Path, calib: Calibration, scale: float, params: LandmarkParams
) -> list[np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(img: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(pad_to(img, PAD).transpose(2, 0, 1)[None])
        return sess.run(None, {"image": x})[0][0]

    return [decode_image(run, im, g, scale, params) for im, g in calib]


def _export(
    out: Path,
    result: FitResult,
    info: ModelInfo,
    report: LandmarksReport,
    calib: Calibration,
    params: LandmarkParams,
    t0: float,
) -> LandmarksReport:
    float_path = sidecar(out, ".float.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_float, tmp_int8 = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        export_module(result.net, tmp_float, "heat")
        inputs = [np.ascontiguousarray(pad_to(im, PAD).transpose(2, 0, 1)[None]) for im, _ in calib]
        a = onnx_landmarks(tmp_float, calib, info.input_scale, params)
        shift, kept = float("nan"), ""
        for keep in INT8_LADDER:  # the first that keeps the landmarks where float puts them
            with quiet_root_logger():  # shape-inference notes on the Resize sizes: not errors
                quantize_int8(tmp_float, tmp_int8, inputs, keep)
            b = onnx_landmarks(tmp_int8, calib, info.input_scale, params)
            moved = np.concatenate(
                [np.linalg.norm(p - q, axis=1) for p, q in zip(a, b, strict=True)]
            )
            shift = float(np.nanmean(moved)) if np.isfinite(moved).any() else float("nan")
            kept = ",".join(k.strip("/") for k in keep)
            if shift <= INT8_TOLERANCE_PX:
                break
        info.metrics["int8_vs_float_px"] = round(shift, 3)
        write_metadata(tmp_float, info)
        removed = write_model_file(float_path, tmp_float.read_bytes())
        report = replace(
            report,
            int8_vs_float_px=round(shift, 3),
            int8_float_parts=kept or None,
            seconds=round(time.monotonic() - t0, 1),
        )
        report.write(out)
        training_curve(result.curve, sidecar(out, ".curve.png"), out.stem)
        if not shift <= INT8_TOLERANCE_PX:  # NaN included
            gone = refused_report(report, out)
            raise Int8Refused(
                f"int8 moves the landmarks of the calibration images by {shift:.2f} px from "
                f"float's on average (limit {INT8_TOLERANCE_PX}; tried {LADDER_WORDS}); use the "
                f"float model {float_path}{gone}: "
                "it places the landmarks as trained, in a larger file and more time per frame"
            )
        info.quantization = "int8-static-qoperator-u8s8-per-channel" + (
            f"; float: {kept}" if kept else ""
        )
        write_metadata(tmp_int8, info)
        removed += write_model_file(out, tmp_int8.read_bytes())
    return finished(report, out, float_path, removed)

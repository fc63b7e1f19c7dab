"""The landmarks training loop: each wing turned by any angle, mirrored, a little resized and
shifted on a square canvas (borders replicated, as the bench's frames are padded), one Gaussian
heatmap per landmark as the target, a weighted squared error, a budget in steps.

A wing lies on a slide at any angle and either side up; mirroring keeps the anatomical
numbering (landmark 3 is still landmark 3 seen from below). As for the other tasks
(export/fit_steps.py): deterministic for a folder, seed and settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from device.measuring.landmarks import to_cells
from export.area_net import OUTPUT_STRIDE, AreaNet
from export.fit import FitResult
from export.fit_steps import run_steps, seeded


@dataclass
class LandmarkFitConfig:
    steps: int = 4000
    max_seconds: float | None = None
    canvas: int = 320  # model pixels, a multiple of 32
    batch: int = 4
    lr: float = 3e-3
    width: int = 24
    threads: int = 1
    seed: int = 0
    sigma: float = 1.0  # of the target peaks, in output cells
    turn: bool = True  # any angle
    mirror: bool = True
    resize: float = 0.1  # log-uniform, +-10 %
    shift: float = 0.1  # of the canvas
    colour_jitter: float = 0.1
    peak_weight: float = 20.0  # squared error near a peak counts this much more
    device: str = "cpu"


@dataclass
class LandmarkData:
    """Images at the model's scale (normalised float32 HxWx3, not padded) and their landmarks in
    the same pixels ((L, 2) pixel centres, NaN where missing)."""

    images: list[np.ndarray]
    points: list[np.ndarray]
    names: list[str]


def view_matrix(
    hw: tuple[int, int], canvas: int, angle: float, mirror: bool, zoom: float, shift: tuple
) -> np.ndarray:
    """The 2x3 map from image pixel centres to canvas pixel centres: mirrored (x -> w-1-x),
    turned by `angle` degrees and zoomed about the image centre, put at the canvas centre."""
    h, w = hw
    flip = np.array([[-1.0, 0, w - 1], [0, 1.0, 0], [0, 0, 1.0]]) if mirror else np.eye(3)
    c = ((w - 1) / 2, (h - 1) / 2)
    rot = np.vstack([cv2.getRotationMatrix2D(c, angle, zoom), [0, 0, 1.0]])
    cc = (canvas - 1) / 2
    move = np.array([[1.0, 0, cc - c[0] + shift[0]], [0, 1.0, cc - c[1] + shift[1]], [0, 0, 1]])
    return (move @ rot @ flip)[:2]


def heat_targets(pts: np.ndarray, cells: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(L, cells, cells) Gaussian peaks of height 1 at the landmarks (canvas pixels), and which
    landmarks count ((L,) 1.0 present on the canvas, 0.0 missing or off it: their map is not
    taught)."""
    uv = to_cells(pts, 1.0, OUTPUT_STRIDE)
    grid = np.arange(cells, dtype=np.float32)
    heat = np.zeros((len(pts), cells, cells), np.float32)
    present = np.zeros(len(pts), np.float32)
    for k, (u, v) in enumerate(uv):
        if not (math.isfinite(u) and math.isfinite(v)):
            continue
        if -0.5 <= u <= cells - 0.5 and -0.5 <= v <= cells - 0.5:
            gx = np.exp(-((grid - u) ** 2) / (2 * sigma**2))
            gy = np.exp(-((grid - v) ** 2) / (2 * sigma**2))
            heat[k] = np.outer(gy, gx)
            present[k] = 1.0
    return heat, present


class WingViews:
    """Random views of the training wings, with their target maps."""

    def __init__(self, data: LandmarkData, cfg: LandmarkFitConfig, rng: np.random.Generator):
        if cfg.canvas % 32:
            raise ValueError(f"canvas {cfg.canvas}: must be a multiple of 32")
        self.data, self.cfg, self.rng = data, cfg, rng

    def view(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg, rng = self.cfg, self.rng
        img, pts = self.data.images[k], self.data.points[k]
        angle = float(rng.uniform(0, 360)) if cfg.turn else 0.0
        mirror = bool(cfg.mirror and rng.random() < 0.5)
        zoom = float(math.exp(rng.uniform(-cfg.resize, cfg.resize)))
        shift = tuple(rng.uniform(-cfg.shift, cfg.shift, 2) * cfg.canvas)
        m = view_matrix(img.shape[:2], cfg.canvas, angle, mirror, zoom, shift)
        size = (cfg.canvas, cfg.canvas)
        out = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        moved = pts @ m[:, :2].T + m[:, 2]
        heat, present = heat_targets(moved, cfg.canvas // OUTPUT_STRIDE, cfg.sigma)
        j = cfg.colour_jitter
        gain = 1 + rng.uniform(-j, j, 3).astype(np.float32)
        off = rng.uniform(-j, j, 3).astype(np.float32) * 4
        return (out * gain + off).transpose(2, 0, 1), heat, present

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        views = [self.view(int(self.rng.integers(len(self.data.images)))) for _ in range(n)]
        x, heat, present = (np.stack(v) for v in zip(*views, strict=True))
        return np.ascontiguousarray(x, np.float32), heat, present


def heat_loss(
    pred: torch.Tensor, target: torch.Tensor, present: torch.Tensor, peak_weight: float
) -> torch.Tensor:
    """Squared error of the maps of landmarks on the canvas, weighted up near their peaks."""
    w = (1.0 + peak_weight * target) * present[:, :, None, None]
    return (w * (pred - target) ** 2).sum() / (w.sum() + 1e-6)


def fit_landmarks(
    data: LandmarkData,
    n_landmarks: int,
    cfg: LandmarkFitConfig,
    progress: Callable[[float, str], None] | None = None,
) -> FitResult:
    rng = seeded(cfg.seed, cfg.threads)
    dev = torch.device(cfg.device)
    net = AreaNet(n_landmarks, cfg.width).to(dev)
    views = WingViews(data, cfg, rng)

    def step_loss() -> torch.Tensor:
        x, heat, present = views.batch(cfg.batch)
        xt = torch.from_numpy(x).to(dev)
        return heat_loss(
            net(xt),
            torch.from_numpy(heat).to(dev),
            torch.from_numpy(present).to(dev),
            cfg.peak_weight,
        )

    r = run_steps(net, cfg.steps, cfg.lr, step_loss, cfg.max_seconds, progress)
    return FitResult(r.ema, r.steps, r.stopped_early, r.curve)


def predict_heat(net: nn.Module, image: np.ndarray) -> np.ndarray:
    """Heatmaps (L x H/4 x W/4) for one prepared (normalised, padded) image."""
    net.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
        return net(x)[0].numpy()

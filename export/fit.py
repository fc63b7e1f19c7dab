"""The training loop: random patches, flips and colour jitter, density MSE, a budget in steps.

Training is measured in steps, not seconds: the same folder, seed and settings give the same
model on a quiet or a busy machine (fixed thread count, deterministic algorithms, one seeded
random stream). A time limit may stop it earlier; the result then says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from export.dataset import Prepared
from export.fit_steps import run_steps, seeded
from export.net import DENSITY_GAIN, OUTPUT_STRIDE, build_net


@dataclass
class FitConfig:
    steps: int = 6000
    max_seconds: float | None = None  # an upper bound; stopping on it is reported
    patch: int = 128
    batch: int = 8
    lr: float = 3e-3
    width: int = 12
    arch: str = "unet"
    threads: int = 1
    seed: int = 0
    count_weight: float = 0.02
    scale_jitter: float = 0.0
    device: str = "cpu"


@dataclass
class FitResult:
    net: nn.Module
    steps: int
    stopped_early: bool = False
    curve: list[tuple[int, float, float]] = field(default_factory=list)  # step, seconds, loss


def _pool(d: np.ndarray) -> np.ndarray:
    c, h, w = d.shape
    s = OUTPUT_STRIDE
    return d.reshape(c, h // s, s, w // s, s).sum(axis=(2, 4))


def _less_detail(x: np.ndarray, f: float) -> np.ndarray:
    """The patch as a lower zoom would have seen it, enlarged back to the taught size: the
    bench recounts a frame taken at a lower zoom this way (device/measuring/zoom.py), so the network
    learns objects with less detail than its training photographs had."""
    h, w = x.shape[:2]
    small = cv2.resize(
        x, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class PatchSampler:
    def __init__(
        self,
        data: Prepared,
        patch: int,
        rng: np.random.Generator,
        scale_jitter: float = 0.0,
    ) -> None:
        self.rng = rng
        self.jitter = scale_jitter
        # Room for the largest crop that scale jitter asks for.
        self.patch = int(np.ceil(patch * (1 + scale_jitter) / OUTPUT_STRIDE)) * OUTPUT_STRIDE
        self.out = patch
        self.images = [np.pad(i, self._pad(i), mode="edge") for i in data.images]
        self.dens = [
            np.pad(d, [(0, 0)] + self._pad(d.transpose(1, 2, 0))[:2]) for d in data.densities
        ]
        areas = np.array([i.shape[0] * i.shape[1] for i in self.images], np.float64)
        self.p = areas / areas.sum()

    def _pad(self, a: np.ndarray) -> list[tuple[int, int]]:
        h, w = a.shape[:2]
        return [(0, max(0, self.patch - h)), (0, max(0, self.patch - w)), (0, 0)][: a.ndim]

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        s = OUTPUT_STRIDE
        for _ in range(n):
            k = self.rng.choice(len(self.images), p=self.p)
            img, den = self.images[k], self.dens[k]
            h, w = img.shape[:2]
            c = self.out
            if self.jitter:
                f = np.exp(self.rng.uniform(-np.log1p(self.jitter), np.log1p(self.jitter)))
                c = min(self.patch, max(s, int(round(self.out * f / s)) * s))
            y0 = self.rng.integers(0, (h - c) // s + 1) * s
            x0 = self.rng.integers(0, (w - c) // s + 1) * s
            xi = img[y0 : y0 + c, x0 : x0 + c]
            di = den[:, y0 : y0 + c, x0 : x0 + c]
            if c != self.out:
                # Objects a little larger or smaller than measured; resizing the density
                # with area interpolation and the area factor keeps every object's mass 1.
                o = (self.out, self.out)
                xi = cv2.resize(xi, o, interpolation=cv2.INTER_LINEAR)
                area = (c / self.out) ** 2
                di = np.stack([cv2.resize(d, o, interpolation=cv2.INTER_AREA) * area for d in di])
            if self.rng.random() < 0.4:
                xi = _less_detail(xi, float(self.rng.uniform(0.5, 1.0)))
            xi = xi.transpose(2, 0, 1)
            yi = _pool(di)
            if self.rng.random() < 0.5:
                xi, yi = xi[:, :, ::-1], yi[:, :, ::-1]
            if self.rng.random() < 0.5:
                xi, yi = xi[:, ::-1], yi[:, ::-1]
            r = int(self.rng.integers(4))
            xi, yi = np.rot90(xi, r, (1, 2)), np.rot90(yi, r, (1, 2))
            # Colour jitter: lighting and stain vary from vial to vial and slide to slide.
            gain = self.rng.uniform(0.85, 1.15, (3, 1, 1)).astype(np.float32)
            shift = self.rng.uniform(-0.25, 0.25, (3, 1, 1)).astype(np.float32)
            xs.append(xi * gain + shift)
            ys.append(yi)
        return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def fit(
    data: Prepared,
    n_classes: int,
    cfg: FitConfig,
    progress: Callable[[float, str], None] | None = None,
) -> FitResult:
    rng = seeded(cfg.seed, cfg.threads)
    dev = torch.device(cfg.device)
    net = build_net(cfg.arch, n_classes, cfg.width).to(dev)
    sampler = PatchSampler(data, cfg.patch, rng, cfg.scale_jitter)

    def step_loss() -> torch.Tensor:
        x, y = sampler.batch(cfg.batch)
        xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev) * DENSITY_GAIN
        pred = net(xt)
        loss = F.mse_loss(pred, yt)
        cnt_err = (pred.sum((2, 3)) - yt.sum((2, 3))).abs() / DENSITY_GAIN
        return loss + cfg.count_weight * cnt_err.mean()

    r = run_steps(net, cfg.steps, cfg.lr, step_loss, cfg.max_seconds, progress)
    return FitResult(r.ema, r.steps, r.stopped_early, r.curve)


def predict_density(net: nn.Module, image: np.ndarray) -> np.ndarray:
    """Density (classes x H/4 x W/4) for one prepared image, with the torch net."""
    net.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
        return (net(x)[0] / DENSITY_GAIN).numpy()

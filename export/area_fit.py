"""The areas training loop: random patches turned and mirrored (a section has no up), colour
jitter (stains vary from slide to slide), cross-entropy on the labelled pixels only (0 in a
mask is unlabelled: scribbles teach), a budget in steps.

As for counting (export/fit.py): measured in steps, deterministic for a folder, seed and
settings (fixed thread count, deterministic algorithms, one seeded random stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from export.area_net import AreaNet
from export.fit import FitResult
from export.fit_steps import run_steps, seeded

IGNORE = -1


@dataclass
class AreaFitConfig:
    steps: int = 3000
    max_seconds: float | None = None
    patch: int = 192
    batch: int = 8
    lr: float = 3e-3
    width: int = 24
    threads: int = 1
    seed: int = 0
    colour_jitter: float = 0.1
    # Weight of each patch's error in class shares (soft, over its labelled pixels) beside the
    # per-pixel loss. Off: on the first validation split it made the share error worse (4.2
    # against 3.1 points at weight 1, Dice 0.895 against 0.920; tests/benchmarks/areas.py
    # --inner --fit '{"share_weight": 1.0}'), the boundaries blur into soft shares.
    share_weight: float = 0.0
    # Weight of a soft Dice loss per class (over the labelled pixels of the batch).
    dice_weight: float = 0.0
    # Each patch zoomed by a random factor within [1/(1+s), 1+s]: sections are photographed at
    # slightly different magnifications and glands come in every size.
    scale_jitter: float = 0.0
    # Weight of a colour-affinity loss on every pixel, labelled or not: neighbouring cells of
    # like colour should get like classes, which lets a few strokes spread to their boundaries.
    # Used only where labels are sparse (scribbles: under SPARSE_SHARE of the pixels labelled).
    smooth_weight: float = 0.0
    device: str = "cpu"


@dataclass
class AreaData:
    """Images at the model's scale (normalised float32 HxWx3) and their labels (int64 HxW:
    -1 unlabelled, 0 background, k the k-th class)."""

    images: list[np.ndarray]
    labels: list[np.ndarray]
    names: list[str]


class AreaPatches:
    """Patches drawn with a probability that follows each image's labelled pixels."""

    def __init__(
        self,
        data: AreaData,
        patch: int,
        rng: np.random.Generator,
        jitter: float,
        scale_jitter: float = 0.0,
    ):
        self.data, self.patch, self.rng, self.jitter = data, patch, rng, jitter
        self.scale_jitter = scale_jitter
        weight = np.array([max(1, int((lab >= 0).sum())) for lab in data.labels], np.float64)
        self.p = weight / weight.sum()

    def _crop(self, img: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.scale_jitter <= 0:
            return self._cut(img, lab, self.patch)
        s = 1 + self.scale_jitter
        zoom = float(np.exp(self.rng.uniform(-np.log(s), np.log(s))))
        side = max(8, round(self.patch / zoom))
        im, lb = self._cut(img, lab, side)
        size = (self.patch, self.patch)
        im = cv2.resize(np.ascontiguousarray(im), size, interpolation=cv2.INTER_LINEAR)
        lb = cv2.resize(np.ascontiguousarray(lb, np.int32), size, interpolation=cv2.INTER_NEAREST)
        return im, lb.astype(np.int64)

    def _cut(self, img: np.ndarray, lab: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = lab.shape
        if h < p or w < p:  # a small image: padded, the padding unlabelled
            ph, pw = max(0, p - h), max(0, p - w)
            img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect")
            lab = np.pad(lab, ((0, ph), (0, pw)), constant_values=IGNORE)
            h, w = lab.shape
        y = int(self.rng.integers(0, h - p + 1))
        x = int(self.rng.integers(0, w - p + 1))
        return img[y : y + p, x : x + p], lab[y : y + p, x : x + p]

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for _ in range(n):
            k = int(self.rng.choice(len(self.p), p=self.p))
            img, lab = self._crop(self.data.images[k], self.data.labels[k])
            turns = int(self.rng.integers(0, 4))
            img, lab = np.rot90(img, turns), np.rot90(lab, turns)
            if self.rng.random() < 0.5:
                img, lab = img[:, ::-1], lab[:, ::-1]
            gain = 1 + self.rng.uniform(-self.jitter, self.jitter, 3).astype(np.float32)
            shift = self.rng.uniform(-self.jitter, self.jitter, 3).astype(np.float32) * 4
            xs.append((img * gain + shift).transpose(2, 0, 1))
            ys.append(lab)
        x = np.ascontiguousarray(np.stack(xs), np.float32)
        return x, np.ascontiguousarray(np.stack(ys), np.int64)


def area_loss(
    scores: torch.Tensor,
    labels: torch.Tensor,
    share_weight: float = 0.0,
    dice_weight: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy at the labels' resolution (the scores interpolated as the bench does),
    plus, weighted, each patch's error in soft class shares over its labelled pixels."""
    up = F.interpolate(scores, size=labels.shape[1:], mode="bilinear", align_corners=False)
    known = labels >= 0
    if not bool(known.any()):
        return up.sum() * 0.0
    loss = F.cross_entropy(up, labels, ignore_index=IGNORE)
    if share_weight <= 0 and dice_weight <= 0:
        return loss
    # Both soft terms over the labelled pixels only: probabilities and one-hot truth, masked.
    mask = known.unsqueeze(1).float()
    prob = F.softmax(up, 1) * mask
    onehot = F.one_hot(labels.clamp(min=0), up.shape[1]).permute(0, 3, 1, 2).float() * mask
    if share_weight > 0:
        n = mask.sum((2, 3)).clamp(min=1.0)
        pred, true = prob.sum((2, 3)) / n, onehot.sum((2, 3)) / n
        loss = loss + share_weight * (pred - true).abs().sum(1).mean()
    if dice_weight > 0:
        inter = (prob * onehot).sum((0, 2, 3))
        total = prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
        loss = loss + dice_weight * (1 - (2 * inter + 1) / (total + 1)).mean()
    return loss


SPARSE_SHARE = 0.8  # labelled pixels / all pixels under which a folder counts as scribbled
SMOOTH_SIGMA = 0.5  # colour distance (normalised units) at which neighbours stop being alike
SMOOTH_SHIFTS = [(0, 1), (1, 0), (1, 1), (1, -1), (0, 2), (2, 0), (2, 2), (2, -2)]


def smooth_loss(scores: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean over neighbouring cells (at the scores' resolution) of colour likeness times the
    chance the two get different classes."""
    prob = F.softmax(scores, 1)
    colour = F.adaptive_avg_pool2d(images, scores.shape[2:])
    total = scores.new_zeros(())
    for dy, dx in SMOOTH_SHIFTS:
        h, w = prob.shape[2] - dy, prob.shape[3] - abs(dx)
        x0, x1 = max(0, -dx), max(0, dx)
        pa, pb = prob[:, :, :h, x0 : x0 + w], prob[:, :, dy : dy + h, x1 : x1 + w]
        ca, cb = colour[:, :, :h, x0 : x0 + w], colour[:, :, dy : dy + h, x1 : x1 + w]
        like = torch.exp(-((ca - cb) ** 2).sum(1) / (2 * SMOOTH_SIGMA**2))
        total = total + (like * (1 - (pa * pb).sum(1))).mean()
    return total / len(SMOOTH_SHIFTS)


def labelled_share(data: AreaData) -> float:
    """The share of all the folder's pixels that carry a label."""
    known = sum(int((lab >= 0).sum()) for lab in data.labels)
    return known / max(1, sum(lab.size for lab in data.labels))


def fit_areas(
    data: AreaData,
    n_out: int,
    cfg: AreaFitConfig,
    progress: Callable[[float, str], None] | None = None,
) -> FitResult:
    rng = seeded(cfg.seed, cfg.threads)
    dev = torch.device(cfg.device)
    net = AreaNet(n_out, cfg.width).to(dev)
    sampler = AreaPatches(data, cfg.patch, rng, cfg.colour_jitter, cfg.scale_jitter)
    smooth = cfg.smooth_weight if labelled_share(data) < SPARSE_SHARE else 0.0

    def step_loss() -> torch.Tensor:
        x, y = sampler.batch(cfg.batch)
        xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        scores = net(xt)
        loss = area_loss(scores, yt, cfg.share_weight, cfg.dice_weight)
        if smooth > 0:
            loss = loss + smooth * smooth_loss(scores, xt)
        return loss

    r = run_steps(net, cfg.steps, cfg.lr, step_loss, cfg.max_seconds, progress)
    return FitResult(r.ema, r.steps, r.stopped_early, r.curve)


def predict_scores(net: nn.Module, image: np.ndarray) -> np.ndarray:
    """Class scores (n_out x H/4 x W/4) for one prepared (normalised, padded) image."""
    net.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
        return net(x)[0].numpy()

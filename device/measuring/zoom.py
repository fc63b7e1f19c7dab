"""Find the zoom of a frame from the objects in it, so a model counts at the size it was taught.

A stereo microscope has a zoom knob. Objects shown to the network larger or smaller than in
training are split or merged (a 1.4x zoom overcounted mosquito eggs by a third). After a first
count, the objects are measured where the points fell (the LoG/Hessian measure `train` uses on
annotations, `device/measuring/objsize.py`), on a copy reduced so objects span about REF_PX
pixels (cheap on a Pi, and the same measure for every zoom). The ratio to the same measure on
the training images is the frame's zoom; outside the spread the training images had, the frame
is counted again at a corrected scale. Far outside what can be corrected, the record is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.measuring.objsize import elongated_size, elongation

REF_PX = 10.0  # large objects are measured on a reduced copy where they span about this much
MIN_POINTS = 8  # fewer counted objects: too few to measure, the frame is taken as it is
MAX_POINTS = 40  # a deterministic sample of the points is enough for a median
# Scales tried, relative to the taught size: 0.3 to 3.3 times.
RELATIVE = np.geomspace(0.3, 3.3, 15)
# A frame is recounted only outside the training images' own spread widened by this much.
MARGIN = 1.1
# Beyond these ratios a count is not trusted even after correction: the record is flagged.
# For models made before `train` measured each model's own range (ZoomRef.flag_lo/hi).
FLAG_BELOW, FLAG_ABOVE = 0.62, 2.2
RULE = (
    f"frames are flagged zoom only below {FLAG_BELOW:g}x or above {FLAG_ABOVE:g}x the taught size"
)
# Training images whose measures spread wider than this: the measure is not trusted for
# these objects (large cells with thin walls read at random scales), and frames are counted
# as they come.
MAX_SPREAD = 1.8
# A recount changes the scale at most this much either way (4x the pixels at most), and never
# feeds the network more than MAX_RECOUNT_PIXELS unless the first count already did.
MAX_CORRECTION = 2.0
MAX_RECOUNT_PIXELS = 16_000_000


@dataclass(frozen=True)
class ZoomRef:
    """What the training images measured (model-input pixels): the median and the spread."""

    ref_px: float
    lo: float = 1.0  # smallest per-image ratio to ref_px among the training images
    hi: float = 1.0
    adapt: bool = True  # False where the measure did not agree across training images
    # The zooms this model counts well at (export/zoom_range.py, measured by `train` on
    # held-back images); models made before it keep the one rule for every model.
    flag_lo: float = FLAG_BELOW
    flag_hi: float = FLAG_ABOVE

    @property
    def measured(self) -> bool:
        """Whether `train` measured this model's range (else the one rule for every model)."""
        return (self.flag_lo, self.flag_hi) != (FLAG_BELOW, FLAG_ABOVE)

    def needs_recount(self, ratio: float | None) -> bool:
        if ratio is None or not self.adapt:
            return False
        return ratio < self.lo / MARGIN or ratio > self.hi * MARGIN


def _hessian_elongation(b: np.ndarray, y: int, x: int) -> float:
    """Long / short axis of the blob at (y, x) of a blurred patch, from its Hessian."""
    y, x = min(max(y, 1), b.shape[0] - 2), min(max(x, 1), b.shape[1] - 2)
    dxx = b[y, x + 1] - 2 * b[y, x] + b[y, x - 1]
    dyy = b[y + 1, x] - 2 * b[y, x] + b[y - 1, x]
    dxy = (b[y + 1, x + 1] - b[y + 1, x - 1] - b[y - 1, x + 1] + b[y - 1, x - 1]) / 4
    return float(elongation(np.float64(dxx), np.float64(dyy), np.float64(dxy)))


def measure(gray: np.ndarray, points: np.ndarray, expected_px: float) -> float | None:
    """Object size (pixels of `gray`) at these points, or None when too few to tell.

    Large objects are first reduced to about REF_PX pixels. Around each sampled point a small
    window goes through the scale space (blurs applied one on top of the other, so every blur
    is small); the point takes the strongest scale-normalised Laplacian within one blob radius
    of it: a model that splits a large object places its points off the object's centre, and
    the blob is still found. Cost: tens of windows of about 80x80 pixels, whatever the frame.
    """
    if len(points) < MIN_POINTS:
        return None
    pts = np.asarray(points, np.float64)
    if len(pts) > MAX_POINTS:
        pts = pts[np.linspace(0, len(pts) - 1, MAX_POINTS).round().astype(int)]
    f = min(1.0, REF_PX / max(expected_px, 1e-6))
    if f < 1.0:
        h, w = gray.shape[:2]
        gray = cv2.resize(
            gray, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA
        )
        pts = pts * f
    sigmas = expected_px * f / (2 * np.sqrt(2)) * RELATIVE
    reach = [max(1, int(round(float(s) * 0.7))) for s in sigmas]
    half = int(np.ceil(3 * sigmas[-1])) + reach[-1] + 1
    padded = np.pad(gray.astype(np.float32), half, mode="reflect")
    h, w = gray.shape[:2]
    widths, elongs = [], []
    for x, y in pts:
        cx = int(np.clip(round(x), 0, w - 1)) + half
        cy = int(np.clip(round(y), 0, h - 1)) + half
        img = padded[cy - half : cy + half + 1, cx - half : cx + half + 1]
        done, resp, spots, blurs = 0.0, [], [], []
        for s, m in zip(sigmas, reach, strict=True):
            inc = float(np.sqrt(max(s * s - done * done, 0.01)))
            img = cv2.GaussianBlur(img, (0, 0), inc, borderType=cv2.BORDER_REFLECT)
            done = float(s)
            log = np.abs(cv2.Laplacian(img, cv2.CV_32F, ksize=1)) * float(s * s)
            win = log[half - m : half + m + 1, half - m : half + m + 1]
            dy, dx = divmod(int(win.argmax()), win.shape[1])
            resp.append(float(win.max()))
            spots.append((half - m + dy, half - m + dx))
            blurs.append(img)
        r = np.asarray(resp)
        k = int(r.argmax())
        elongs.append(_hessian_elongation(blurs[k], *spots[k]))
        # The peak between scale levels: a parabola through the best level and its neighbours
        # (in log sigma), so the measure is continuous, not stepped by the level spacing.
        kk = min(max(k, 1), len(r) - 2)
        den = r[kk - 1] - 2 * r[kk] + r[kk + 1]
        off = 0.5 * (r[kk - 1] - r[kk + 1]) / den if den < 0 else 0.0
        step = float(np.log(sigmas[1] / sigmas[0]))
        widths.append(2.0 * np.sqrt(2.0) * float(sigmas[kk]) * np.exp(np.clip(off, -1, 1) * step))
    width = float(np.median(widths)) / f
    return elongated_size(width, float(np.median(elongs)))


def ratio(gray: np.ndarray, points: np.ndarray, ref: ZoomRef) -> float | None:
    """How much larger the objects in this frame look than in training (None: unknown)."""
    size = measure(gray, points, ref.ref_px)
    return None if size is None else size / ref.ref_px


def training_ref(grays: list[np.ndarray], points: list[np.ndarray], shown_px: float) -> ZoomRef:
    """The measure on each training image (model-input pixels, annotated points), its median
    and spread; images with too few points are left out."""
    sizes = [measure(g, p, shown_px) for g, p in zip(grays, points, strict=True)]
    known = [s for s in sizes if s is not None]
    if not known:
        return ZoomRef(shown_px)
    ref = float(np.median(known))
    lo, hi = min(known) / ref, max(known) / ref
    return ZoomRef(ref, lo, hi, adapt=len(known) >= 2 and hi / lo <= MAX_SPREAD)


def flag(ratio: float | None, ref: ZoomRef | None = None) -> bool:
    """Outside the zooms the model counts well at: not trusted even after a recount."""
    lo, hi = (ref.flag_lo, ref.flag_hi) if ref is not None else (FLAG_BELOW, FLAG_ABOVE)
    return ratio is not None and not lo <= ratio <= hi


def flag_text(ratio: float | None, ref: ZoomRef | None = None) -> str:
    """Why a frame is flagged `zoom`, in words: how far, which way, and the model's range."""
    lo, hi = (ref.flag_lo, ref.flag_hi) if ref is not None else (FLAG_BELOW, FLAG_ABOVE)
    if ratio is None:
        return "objects another size than the model was taught: check the zoom"
    way = "smaller" if ratio < lo else "larger"
    whose = "this model counts well at"
    if ref is None or not ref.measured:
        whose = "trusted for a model without its own zoom range"
    return (
        f"objects {ratio:.2f}x the taught size, {way} than the {lo:.2f}-{hi:.2f}x {whose}: "
        "check the zoom"
    )

"""What labs use today, to compare against: a classical ImageJ-style pipeline and a
QuantiFly-style density regression (Lempitsky and Zisserman 2010; extra-trees on filter features).

Both are tuned or trained on the same training images as our model and scored on the same
held-out images. Pure numpy/OpenCV/scikit-learn; no torch.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from device.measuring.preprocess import rescale
from export.dataset import density_map
from export.folder import TrainingFolder

BASE_PX = 8.0  # both baselines see objects at this diameter


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


# -- classical: threshold, distance transform, watershed-style peak splitting ----------------
def classical_count(
    grey: np.ndarray, dark: bool, offset: float, peak_frac: float, min_area: float
) -> int:
    g = cv2.GaussianBlur(grey, (0, 0), 1.0)
    g8 = np.clip(g, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(g8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = otsu + offset
    fg = (g < t) if dark else (g > t)
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    dist = cv2.distanceTransform(fg, cv2.DIST_L2, 5)
    r = max(1, int(round(BASE_PX * peak_frac)))
    dil = cv2.dilate(dist, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    peaks = ((dist >= dil) & (dist > 1.0)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(peaks)
    n_peaks = n - 1
    # Components too small to hold an object are noise; big blobs without enough peaks are
    # split by area, as ImageJ users do with "Analyze Particles" size ranges.
    n_cc, labels, cc_stats, _ = cv2.connectedComponentsWithStats(fg)
    obj_area = np.pi * (BASE_PX / 2) ** 2
    small = int(np.sum(cc_stats[1:, cv2.CC_STAT_AREA] < min_area * obj_area))
    return max(0, n_peaks - small)


def tune_classical(images: list[np.ndarray], counts: list[int]) -> tuple:
    grid = itertools.product((True, False), (-30, -15, 0, 15, 30), (0.4, 0.6, 0.9), (0.2, 0.5))
    best, best_err = None, np.inf
    greys = [_grey(i) for i in images]
    for params in grid:
        err = np.mean(
            [abs(classical_count(g, *params) - c) for g, c in zip(greys, counts, strict=True)]
        )
        if err < best_err:
            best, best_err = params, err
    return best


# -- QuantiFly-style density regression ---------------------------------------------------------
def features(rgb: np.ndarray) -> np.ndarray:
    g = _grey(rgb) / 255.0
    feats = [
        cv2.GaussianBlur(rgb.astype(np.float32) / 255.0, (0, 0), 1.0)[..., c] for c in range(3)
    ]
    for s in (1.0, 2.0, 4.0):
        b = cv2.GaussianBlur(g, (0, 0), s)
        gx, gy = cv2.Sobel(b, cv2.CV_32F, 1, 0), cv2.Sobel(b, cv2.CV_32F, 0, 1)
        dxx = cv2.Sobel(b, cv2.CV_32F, 2, 0)
        dyy = cv2.Sobel(b, cv2.CV_32F, 0, 2)
        dxy = cv2.Sobel(b, cv2.CV_32F, 1, 1)
        tr = dxx + dyy
        det = dxx * dyy - dxy * dxy
        feats += [b, np.hypot(gx, gy), tr * s * s, det * s**4]
    return np.stack(feats, axis=-1).reshape(-1, len(feats))


class DensityForest:
    def __init__(self, seed: int = 0) -> None:
        from sklearn.ensemble import ExtraTreesRegressor

        self.model = ExtraTreesRegressor(
            n_estimators=32, max_depth=20, min_samples_leaf=4, n_jobs=2, random_state=seed
        )
        self.scale = 1.0
        self.count_scale = 1.0

    def fit(self, folder: TrainingFolder, size: float, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.scale = BASE_PX / size
        xs, ys, per = [], [], max(2000, 60000 // max(1, len(folder.samples)))
        for s in folder.samples:
            rgb = rescale(s.image(), self.scale)
            pts = np.array([[x * self.scale, y * self.scale] for x, y, _ in s.points]).reshape(
                -1, 2
            )
            d = density_map(rgb.shape[:2], pts, np.zeros(len(pts), int), 1, BASE_PX / 4)[0]
            f = features(rgb)
            flat = d.ravel()
            near = np.flatnonzero(flat > flat.max() * 0.05) if flat.max() > 0 else np.array([], int)
            idx = np.concatenate(
                [
                    rng.choice(len(flat), per // 2),
                    rng.choice(near, min(len(near), per // 2)) if len(near) else [],
                ]
            )
            idx = idx.astype(int)
            xs.append(f[idx])
            ys.append(flat[idx])
        self.model.fit(np.concatenate(xs), np.concatenate(ys))
        pred = [self.raw(s.image()) for s in folder.samples]
        true = [s.count() for s in folder.samples]
        self.count_scale = float(np.sum(true) / max(np.sum(pred), 1e-6))

    def raw(self, rgb: np.ndarray) -> float:
        small = rescale(rgb, self.scale)
        return float(self.model.predict(features(small)).sum())

    def count(self, rgb: np.ndarray) -> float:
        return self.raw(rgb) * self.count_scale


def run_baselines(
    train: TrainingFolder, test: TrainingFolder, size: float, seed: int = 0, forest: bool = True
) -> dict[str, list[tuple[int, float]]]:
    scale = BASE_PX / size
    tr_imgs = [rescale(s.image(), scale) for s in train.samples]
    params = tune_classical(tr_imgs, [s.count() for s in train.samples])
    out: dict[str, list[tuple[int, float]]] = {"classical": []}
    for s in test.samples:
        img = s.image()
        out["classical"].append((s.count(), classical_count(_grey(rescale(img, scale)), *params)))
    if forest:
        model = DensityForest(seed)
        model.fit(train, size, seed)
        out["density-forest"] = [(s.count(), round(model.count(s.image()))) for s in test.samples]
    return out

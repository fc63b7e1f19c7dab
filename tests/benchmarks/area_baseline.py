"""The ilastik-style baseline for areas: a random forest on per-pixel filter responses at several
scales (Gaussian smoothing, Laplacian of Gaussian, gradient magnitude, structure-tensor
eigenvalues), as ilastik's pixel classification and QuPath's pixel classifier do, trained on the
same labelled pixels as the network and run at the same image scale."""

from __future__ import annotations

import cv2
import numpy as np

from device.measuring.preprocess import rescale
from export.areas_folder import AreasFolder

SIGMAS = (0.7, 1.6, 3.5, 5.0, 10.0)  # ilastik's default scales
PIXELS_PER_IMAGE = 3000


def features(rgb: np.ndarray) -> np.ndarray:
    """HxWxF float32: for each colour channel and scale, the smoothed value, LoG, gradient
    magnitude and the two structure-tensor eigenvalues."""
    out = []
    for ch in cv2.split(rgb.astype(np.float32) / 255.0):
        for s in SIGMAS:
            g = cv2.GaussianBlur(ch, (0, 0), s)
            out.append(g)
            out.append(cv2.Laplacian(g, cv2.CV_32F, ksize=3))
            gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
            out.append(np.sqrt(gx * gx + gy * gy))
            jxx = cv2.GaussianBlur(gx * gx, (0, 0), s * 0.5 + 0.5)
            jyy = cv2.GaussianBlur(gy * gy, (0, 0), s * 0.5 + 0.5)
            jxy = cv2.GaussianBlur(gx * gy, (0, 0), s * 0.5 + 0.5)
            root = np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy)
            out.append((jxx + jyy + root) / 2)
            out.append((jxx + jyy - root) / 2)
    return np.stack(out, axis=-1)


def _scaled(folder: AreasFolder, scale: float) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for s in folder.samples:
        rgb = rescale(s.image(), scale)
        h, w = rgb.shape[:2]
        lab = cv2.resize(s.labels().astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
        pairs.append((rgb, lab))
    return pairs


class PixelForest:
    def __init__(self, scale: float = 0.5, trees: int = 100, seed: int = 0) -> None:
        from sklearn.ensemble import RandomForestClassifier

        self.scale = scale
        self.forest = RandomForestClassifier(
            n_estimators=trees, min_samples_leaf=2, n_jobs=2, random_state=seed
        )
        self.rng = np.random.default_rng(seed)

    def fit(self, folder: AreasFolder) -> PixelForest:
        xs, ys = [], []
        for rgb, lab in _scaled(folder, self.scale):
            f = features(rgb)
            where = np.flatnonzero(lab.ravel() >= 0)
            pick = self.rng.choice(where, min(PIXELS_PER_IMAGE, where.size), replace=False)
            xs.append(f.reshape(-1, f.shape[-1])[pick])
            ys.append(lab.ravel()[pick])
        self.forest.fit(np.concatenate(xs), np.concatenate(ys))
        return self

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """The label of every pixel of the image (at its own size)."""
        small = rescale(rgb, self.scale)
        f = features(small)
        lab = self.forest.predict(f.reshape(-1, f.shape[-1])).reshape(small.shape[:2])
        h, w = rgb.shape[:2]
        return cv2.resize(lab.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(
            np.int64
        )

"""Landmark configurations: centroid size and Procrustes superimposition (pure numpy).

A configuration is an (N, 2) array of x, y in pixels (y down), landmarks in their anatomical
order; a missing landmark is a row of NaN. Comparisons use the landmarks present in both.
These are the measures of geometric morphometrics (tpsDig, MorphoJ, geomorph): centroid size is
the root of the summed squared distances to the centroid; the Procrustes distance is between the
two configurations centred, scaled to unit centroid size and rotated onto each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_COMMON = 3  # fewer landmarks in common leave the shape undetermined


def present(pts: np.ndarray) -> np.ndarray:
    """Which landmarks the configuration has (N booleans)."""
    return np.isfinite(pts).all(axis=1)


def centroid_size(pts: np.ndarray) -> float:
    """sqrt(sum |p - centroid|^2) over the landmarks present; NaN with fewer than two."""
    p = pts[present(pts)]
    if len(p) < 2:
        return float("nan")
    return float(np.sqrt(((p - p.mean(axis=0)) ** 2).sum()))


def _unit(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Centred and scaled to unit centroid size: (shape, centroid, size)."""
    c = p.mean(axis=0)
    q = p - c
    size = float(np.sqrt((q**2).sum()))
    return q / size if size > 0 else q, c, size


@dataclass(frozen=True)
class Superimposed:
    distance: float  # partial Procrustes distance, both at unit centroid size
    mirrored: bool  # the best fit needed a reflection
    aligned: np.ndarray  # the whole first configuration in the reference's place and size
    common: int  # landmarks the fit used


def superimpose(pts: np.ndarray, ref: np.ndarray, allow_mirror: bool = False) -> Superimposed:
    """Rotate (and, if allowed and better, reflect) `pts` onto `ref` after centring and scaling
    both to unit size on their common landmarks. ValueError with fewer than 3 in common."""
    both = present(pts) & present(ref)
    n = int(both.sum())
    if n < MIN_COMMON:
        raise ValueError(f"{n} landmarks in common: at least {MIN_COMMON} are needed")
    a, ca, sa = _unit(pts[both])
    b, cb, sb = _unit(ref[both])
    if sa == 0 or sb == 0:
        raise ValueError("the landmarks in common all lie on one point")
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.ones(2)
    mirrored = bool(np.linalg.det(u @ vt) < 0)
    if mirrored and not allow_mirror:
        d[-1] = -1.0  # the best proper rotation (Kabsch)
        mirrored = False
    rot = u @ np.diag(d) @ vt
    dist = float(np.sqrt(max(0.0, ((a @ rot - b) ** 2).sum())))
    aligned = ((pts - ca) / sa) @ rot * sb + cb
    return Superimposed(dist, mirrored, aligned, n)


def mean_shape(configs: list[np.ndarray], iterations: int = 20) -> np.ndarray:
    """The Procrustes mean (generalised Procrustes analysis) at unit centroid size, centred.

    Configurations may miss landmarks; the mean of each landmark is over those that have it.
    The first complete configuration starts it; reflections are not allowed.
    """
    if not configs:
        raise ValueError("no configurations")
    full = [c for c in configs if present(c).all() and centroid_size(c) > 0]
    if not full:
        raise ValueError("no configuration has every landmark (apart from each other)")
    ref = _unit(full[0])[0]
    for _ in range(iterations):
        stack = []
        for c in configs:
            try:
                stack.append(superimpose(c, ref).aligned)
            except ValueError:
                continue
        new = _unit(np.nanmean(np.stack(stack), axis=0))[0]
        done = np.abs(new - ref).max() < 1e-10
        ref = new
        if done:
            break
    return ref


def mirror_x(pts: np.ndarray, width: int) -> np.ndarray:
    """The configuration in the image flipped left to right (pixel centres: x -> width-1-x)."""
    out = pts.astype(np.float64).copy()
    out[:, 0] = (width - 1) - out[:, 0]
    return out

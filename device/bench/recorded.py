"""The `recorded` event of one press: what was measured, where it went, what to say about it."""

from __future__ import annotations

import numpy as np

from device.bench.events import Recorded
from device.measuring.detector import Detector
from device.measuring.quality import reasons
from device.measuring.result import Measurement
from device.records.record import Record


def warning_of(detector: Detector) -> str:
    """What events about a model's results must say (the demo model's warning), or ""."""
    return getattr(detector.info, "warning", "") or ""  # stand-in detectors may carry none


def recorded(
    rec: Record,
    res: Measurement,
    detector: Detector,
    flags: list[str],
    rgb: np.ndarray,
    ms: dict[str, float],
    next_sample: str,
) -> Recorded:
    return Recorded(
        id=rec.id,
        time=rec.time,
        counts=rec.counts,
        sample=rec.sample,
        flags=flags,
        why=reasons(flags, res.zoom, detector.info.zoom),
        zoom=res.zoom,
        stored=rec.stored,
        image=rec.image,
        model=detector.name,
        warning=warning_of(detector),
        next_sample=next_sample,
        ms=ms,
        frame=rgb,
        points=res.points,
        task=res.task,
        areas=res.areas,
        pixels=res.pixels,
        class_map=res.class_map,
        objective=str(rec.extra.get("objective", "")),
        um_per_px=float(rec.extra.get("um_per_px", 0.0)),
        mm2=dict(rec.extra.get("mm2", {})),
        per_mm2=dict(rec.extra.get("per_mm2", {})),
        landmarks=list(rec.extra.get("landmarks", [])),
        landmark_names=list(rec.extra.get("landmark_names", [])),
        landmark_confidence=list(rec.extra.get("landmark_confidence", [])),
        centroid_size=rec.extra.get("centroid_size"),
        centroid_size_um=rec.extra.get("centroid_size_um"),
        mirrored=rec.extra.get("mirrored"),
        procrustes_distance=rec.extra.get("procrustes_distance"),
    )

"""What one frame measured: one typed result for every task, so that the bench, the records and
the screens read the same fields whatever the model measures."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Measurement:
    counts: dict[str, int]  # count: objects per class; areas: {} (nothing is counted)
    points: list[tuple[float, float, str]]
    sums: dict[str, float]  # count: the density sums; areas: each class's fraction
    ms: float
    zoom: float | None = None  # objects' size against training (1.0: as taught; None: unknown)
    rescaled: bool = False  # counted again at a corrected scale
    flags: list[str] = field(default_factory=list)  # "zoom": far outside the taught size
    task: str = "count"
    areas: dict[str, float] = field(default_factory=dict)  # class -> fraction of the frame, 0-1
    pixels: dict[str, int] = field(default_factory=dict)  # class -> pixels of the frame
    # The class of every pixel of the frame (0: background, k: the model's k-th class), uint8
    class_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    # landmarks: one (x, y) per landmark in the model's order, None where not in the frame
    landmarks: list[tuple[float, float] | None] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)  # each landmark's peak, 0-1
    centroid_size: float | None = None  # pixels of the frame
    mirrored: bool | None = None  # the wing lies the other side up
    shape_distance: float | None = None  # Procrustes distance to the taught mean shape
    uncertain: float | None = None  # areas: the share of the frame between classes, 0-1

    def counted(self, classes: list[str]) -> list[str]:
        """The classes whose counts a record keeps: none where nothing is counted."""
        return list(classes) if self.task == "count" else []

    def record_fields(self, classes: list[str]) -> dict[str, object]:
        """What a record (and its event) adds for this task beyond counts and flags."""
        if self.task == "landmarks":
            return {
                "task": self.task,
                "landmarks": [
                    None if p is None else [round(p[0], 2), round(p[1], 2)] for p in self.landmarks
                ],
                "landmark_names": list(classes),
                "landmark_confidence": list(self.confidence),
                "centroid_size": None
                if self.centroid_size is None
                else round(self.centroid_size, 2),
                "mirrored": self.mirrored,
                "procrustes_distance": None
                if self.shape_distance is None
                else round(self.shape_distance, 4),
            }
        if self.task != "areas":
            return {"task": self.task}
        return {
            "task": self.task,
            "areas": dict(self.areas),
            "pixels": dict(self.pixels),
            "uncertain": self.uncertain,
            "mask_classes": ["background", *classes],
        }


CountResult = Measurement  # the counting task's name for it

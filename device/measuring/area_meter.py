"""The areas detector: frames -> the class of every pixel and each class's share of the frame."""

from __future__ import annotations

import time

import numpy as np

from device.core.errors import ModelError
from device.measuring.areas import UNCERTAIN_ABOVE, class_map, class_shares, uncertain_share
from device.measuring.onnx_model import OnnxModel
from device.measuring.result import Measurement


class AreaMeter(OnnxModel):
    """A per-pixel classifier: one score map for background, then one per named class."""

    task = "areas"

    @property
    def out_channels(self) -> int:
        return len(self.info.classes) + 1

    def measure(self, rgb: np.ndarray) -> Measurement:
        t = time.perf_counter()
        small = self.at_scale(rgb)
        scores = self.run(small)
        if scores.shape[0] != self.out_channels:  # the warm-up checked one size only
            raise ModelError(
                f"{self.where}: {scores.shape[0]} score maps for {len(self.info.classes)} "
                "classes and background"
            )
        try:
            cmap = class_map(scores, self.info.output_stride, small.shape[:2], rgb.shape[:2])
        except ValueError as e:  # NaN scores, a wrong shape: the model, not the frame
            raise ModelError(f"{self.where}: {e}") from None
        areas, pixels = class_shares(cmap, self.info.classes)
        # Decided on the value recorded, so that the records' numbers give the same flag.
        unsure = round(uncertain_share(scores, self.info.output_stride, small.shape[:2]), 4)
        ms = (time.perf_counter() - t) * 1000
        return Measurement(
            {},
            [],
            dict(areas),
            ms,
            flags=["uncertain"] if unsure > UNCERTAIN_ABOVE else [],
            task="areas",
            areas=areas,
            pixels=pixels,
            class_map=cmap,
            uncertain=unsure,
        )

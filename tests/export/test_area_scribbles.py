"""The benchmarks' simulated scribbles: strokes only inside their class, away from its edges,
every class that has room gets some, the rest unlabelled."""

from __future__ import annotations

import cv2
import numpy as np

from tests.benchmarks.area_curves import MARGIN_PX, scribble


def test_strokes_stay_inside_their_class_and_away_from_its_boundary():
    labels = np.zeros((200, 300), np.int64)
    labels[:, 150:] = 1
    labels[20:60, 20:60] = -1  # unlabelled in the truth: never scribbled
    out = scribble(labels, np.random.default_rng(0))
    assert set(np.unique(out)) == {0, 1, 2}  # unlabelled, background, the class
    assert (labels[out == 1] == 0).all() and (labels[out == 2] == 1).all()
    edge = cv2.Canny((labels == 1).astype(np.uint8) * 255, 1, 1) > 0
    dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5)
    assert dist[out > 0].min() >= MARGIN_PX - 1
    assert (out > 0).mean() < 0.2  # strokes, not a full mask

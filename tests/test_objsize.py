import cv2
import numpy as np
import pytest

from export.objsize import estimate_object_size, log_diameters


def disc_image(centres, radius, shape=(200, 200)):
    img = np.full((*shape, 3), 230, np.uint8)
    for x, y in centres:
        cv2.circle(img, (x, y), radius, (30, 30, 30), -1, cv2.LINE_AA)
    return img


def test_log_measures_disc_diameter():
    pts = np.array([[50, 50], [150, 60], [100, 150]], float)
    grey = cv2.cvtColor(disc_image(pts.astype(int), 6), cv2.COLOR_RGB2GRAY)
    assert np.median(log_diameters(grey, pts)) == pytest.approx(12, rel=0.25)


def test_sparse_round_objects_keep_their_width():
    pts = np.array([[30, 30], [170, 40], [100, 160]], float)
    size = estimate_object_size([disc_image(pts.astype(int), 5)], [pts])
    assert size == pytest.approx(10, rel=0.3)  # spacing of 140 px does not inflate it


def test_elongated_objects_count_larger_than_their_width():
    img = np.full((200, 200, 3), 230, np.uint8)
    pts = []
    for i, (x, y) in enumerate(
        [
            (40, 40),
            (70, 45),
            (100, 50),
            (130, 60),
            (40, 90),
            (80, 100),
            (120, 110),
            (160, 120),
            (60, 150),
            (110, 160),
        ]
    ):
        cv2.ellipse(img, (x, y), (9, 3), 30 * i, 0, 360, (30, 30, 30), -1, cv2.LINE_AA)
        pts.append((x, y))
    pts = np.array(pts, float)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    width = np.median(log_diameters(grey, pts))
    size = estimate_object_size([img], [pts])
    assert width < size <= 1.6 * width + 1e-9


def test_no_points_default():
    assert estimate_object_size([disc_image([], 5)], [np.zeros((0, 2))]) == 16.0

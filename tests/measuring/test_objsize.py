import cv2
import numpy as np
import pytest

from device.measuring.objsize import estimate_object_size, log_diameters, main_zoom, zoom_groups
from export.scaling import MAX_UPSCALE, input_scales


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


def test_main_zoom_is_the_cluster_around_the_median():
    # One zoom spreads continuously (as adipocyte tiles do, 0.7x to 1.4x): no other zoom.
    assert main_zoom([7.0, 7.8, 8.6, 9.5, 10.0, 11.0, 12.2, 13.5]) == [True] * 8
    # Two photographs at 1.45x, with no image in between: another zoom.
    assert main_zoom([4.8, 7.1, 4.7, 4.9, 7.2, 4.8]) == [True, False, True, True, False, True]
    assert main_zoom([5.0]) == [True]


def grid(radius, spacing=24, shape=(200, 200)):
    pts = np.array(
        [
            (x, y)
            for y in range(20, shape[0] - 10, spacing)
            for x in range(20, shape[1] - 10, spacing)
        ],
        float,
    )
    return disc_image(pts.astype(int), radius, shape), pts


def test_zoom_groups_measure_the_main_zoom_alone_and_flag_the_closer_photograph():
    far = [grid(3, 24), grid(3, 24), grid(3, 24)]
    close = grid(6, 40, (400, 400))
    images = [far[0][0], close[0], far[1][0], far[2][0]]
    points = [far[0][1], close[1], far[1][1], far[2][1]]
    size, own = zoom_groups(images, points)
    assert size == pytest.approx(estimate_object_size([f[0] for f in far], [f[1] for f in far]))
    assert own[0] is None and own[2] is None and own[3] is None
    assert own[1] is not None and own[1] > 1.5 * size
    # Too few points on an image to trust its own size: it stays with the folder.
    few = grid(6, 80, (200, 200))
    assert zoom_groups([far[0][0], few[0]], [far[0][1], few[1]])[1] == [None, None]


def test_input_scales_enlarge_small_objects_at_most_max_upscale() -> None:
    # Cells at 32 px are shrunk to 16 px; eggs 4.8 px wide are enlarged only MAX_UPSCALE times.
    assert input_scales(32.0, [None], 16.0)[:2] == (0.5, 16.0)
    scale, shown, scales = input_scales(4.8, [None, 7.2], 16.0)
    assert scale == MAX_UPSCALE and abs(shown - 4.8 * MAX_UPSCALE) < 1e-9
    # A closer photograph is scaled so that its objects appear at the same size as the rest.
    assert scales[0] == MAX_UPSCALE and abs(scales[1] * 7.2 - shown) < 1e-9

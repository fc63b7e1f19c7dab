"""Landmarks placed finer by their looks: the pose fit, the match on synthetic wings at other
turns, sizes and sides, and the cases where nothing may move."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.measuring.landmark_refine import (
    LocalLooks,
    grey,
    learn_looks,
    refine,
    similarity,
)
from device.measuring.shapes import centroid_size, mean_shape

# Five "vein crossings", each a different figure so that none looks like another's neighbour.
BASE = np.array([[60.0, 60.0], [140.0, 50.0], [170.0, 120.0], [100.0, 150.0], [50.0, 120.0]])


def base_wing() -> np.ndarray:
    img = np.full((200, 220), 200, np.uint8)
    for k, (x, y) in enumerate(BASE.astype(int)):
        a = k * 0.6  # each figure's arms at its own angle
        for arm in (a, a + 1.2 + 0.3 * k):
            dx, dy = int(14 * np.cos(arm)), int(14 * np.sin(arm))
            cv2.line(img, (x - dx, y - dy), (x + dx, y + dy), 60, 2, cv2.LINE_AA)
        cv2.circle(img, (x + 9, y - 5), 2 + k % 3, 110, -1, cv2.LINE_AA)
    return img


def posed(angle: float, zoom: float, mirror: bool, shape=(260, 280)) -> tuple:
    """The base wing turned, zoomed and mirrored onto a larger canvas, and its landmarks."""
    img = base_wing()
    c = (BASE.mean(axis=0)[0], BASE.mean(axis=0)[1])
    m = cv2.getRotationMatrix2D(c, angle, zoom)
    m[:, 2] += (shape[1] / 2 - c[0], shape[0] / 2 - c[1])
    if mirror:
        flip = np.array([[-1.0, 0, shape[1] - 1], [0, 1.0, 0], [0, 0, 1]])
        m = (flip @ np.vstack([m, [0, 0, 1]]))[:2]
    out = cv2.warpAffine(img, m, shape[::-1], flags=cv2.INTER_LINEAR, borderValue=200)
    pts = BASE @ m[:, :2].T + m[:, 2]
    return out, pts


def taught() -> LocalLooks:
    # one side up, as a lab photographs its wings (the mean shape is taken without reflection)
    wings = [posed(a, z, False) for a, z in [(0, 1.0), (25, 1.1), (-40, 0.9)]]
    configs = [p for _, p in wings]
    canon = mean_shape(configs) * float(np.median([centroid_size(c) for c in configs]))
    return learn_looks(((grey(im), p) for im, p in wings), canon, size=21, radius=8, blur=1.0)


def test_similarity_recovers_a_turn_a_size_a_reflection_and_a_shift():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(7, 2)) * 50
    for det in (1, -1):
        a = 1.7 * np.array([[np.cos(0.4), -np.sin(0.4)], [np.sin(0.4), np.cos(0.4)]])
        a = a @ np.diag([1, det])
        dst = src @ a.T + [12.0, -30.0]
        m = similarity(src, dst)
        assert m is not None
        assert np.allclose(m[:, :2], a) and np.allclose(m[:, 2], [12.0, -30.0])


def test_similarity_needs_three_landmarks_apart():
    pts = np.array([[1.0, 1.0], [5.0, 2.0], [np.nan, np.nan], [np.nan, np.nan]])
    assert similarity(pts, pts) is None
    same = np.ones((4, 2))
    assert similarity(same, same) is None


@pytest.mark.parametrize(("angle", "zoom", "mirror"), [(0, 1.0, False), (117, 1.2, False),
                                                       (-70, 0.85, True)])  # fmt: skip
def test_landmarks_a_few_pixels_off_move_onto_their_crossings(angle, zoom, mirror):
    looks = taught()
    img, true = posed(angle, zoom, mirror)
    rng = np.random.default_rng(1)
    coarse = true + rng.uniform(-4, 4, true.shape)
    got = refine(grey(img), coarse, looks)
    before = np.linalg.norm(coarse - true, axis=1).mean()
    after = np.linalg.norm(got - true, axis=1)
    assert before > 2.0 and after.max() < 0.6, after


def test_a_landmark_on_a_look_alike_far_away_is_found_again_where_the_shape_puts_it():
    looks = taught()
    img, true = posed(30, 1.1, True)
    far = true + 1.5
    far[0] = true[2] + (3.0, -2.0)  # on another landmark's crossing, beyond any radius
    got = refine(grey(img), far, looks)
    assert np.linalg.norm(got - true, axis=1).max() < 0.6, got - true


def test_landmarks_near_their_shape_are_not_searched_again():
    """With a wide spread among the training wings nothing is far: the match moves a landmark
    at most the radius."""
    from dataclasses import replace

    looks = replace(taught(), spread=np.full(5, 100.0))
    img, true = posed(0, 1.0, False)
    far = true.copy()
    far[0] += (30.0, 0.0)
    got = refine(grey(img), far, looks)
    assert np.linalg.norm(got[0] - far[0]) <= looks.radius * 1.5 + 1e-6
    assert np.linalg.norm(got[0] - true[0]) > 10


def test_missing_landmarks_stay_missing_and_too_few_move_nothing():
    looks = taught()
    img, true = posed(0, 1.0, False)
    some = true + 2.0
    some[1] = np.nan
    got = refine(grey(img), some, looks)
    assert np.isnan(got[1]).all() and np.linalg.norm(got[0] - true[0]) < 0.6
    two = np.full_like(true, np.nan)
    two[:2] = true[:2] + 2.0
    assert np.array_equal(refine(grey(img), two, looks), two, equal_nan=True)


def test_a_landmark_no_training_wing_had_is_left_where_the_network_put_it():
    wings = [posed(a, 1.0, False) for a in (0, 30)]
    canon = mean_shape([p for _, p in wings]) * 100
    for _, p in wings:
        p[4] = np.nan
    looks = learn_looks(((grey(im), p) for im, p in wings), canon)
    assert not looks.patches[4].any() and looks.patches[0].any()
    img, true = posed(10, 1.0, False)
    got = refine(grey(img), true + 3.0, looks)
    assert np.allclose(got[4], true[4] + 3.0)


def test_a_flat_frame_moves_nothing():
    looks = taught()
    _, true = posed(0, 1.0, False)
    flat = np.full((260, 280), 128, np.float32)
    assert np.allclose(refine(flat, true + 3.0, looks), true + 3.0)


@pytest.mark.parametrize("centre", [(140.0, 130.0), (3.0, 250.0), (-40.0, 10.0), (400.0, 500.0)])
def test_a_region_cut_out_first_reads_what_the_whole_frame_gives(centre):
    """The cut keeps OpenCV 4 from refusing tall frames; inside, at an edge or outside the
    frame it must read the same pixels as a warp of the whole frame."""
    from device.measuring.landmark_refine import _region

    img = grey(posed(20, 1.0, False)[0])
    A = 1.3 * np.array([[np.cos(0.5), -np.sin(0.5)], [np.sin(0.5), np.cos(0.5)]])
    n, c = 33, 16.0
    m = np.hstack([A, (np.asarray(centre) - A @ np.array([c, c]))[:, None]])
    whole = cv2.warpAffine(img, m, (n, n), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    assert np.allclose(_region(img, np.asarray(centre), A, n, 0.0), whole, atol=1e-3)


def test_a_frame_taller_than_opencv_4_warps_is_refined():
    looks = taught()
    img, true = posed(0, 1.0, False)
    tall = np.full((33000, img.shape[1]), 200, np.uint8)
    tall[-img.shape[0] :] = img
    moved = true + (0.0, 33000 - img.shape[0])
    got = refine(grey(tall), moved + 2.0, looks)
    assert np.linalg.norm(got - moved, axis=1).max() < 0.6


def test_a_pose_at_an_absurd_scale_moves_nothing():
    looks = taught()
    img, true = posed(0, 1.0, False)
    huge = true * 1e6
    assert np.array_equal(refine(grey(img), huge, looks), huge)


def test_a_degenerate_training_wing_teaches_nothing():
    """All its landmarks on a line: its pose scale is absurd, and it would have set every
    landmark's spread (and so switched the search for far landmarks off)."""
    wings = [posed(a, z, False) for a, z in [(0, 1.0), (25, 1.1), (-40, 0.9)]]
    canon = mean_shape([p for _, p in wings]) * float(
        np.median([centroid_size(p) for _, p in wings])
    )
    line = np.array([[100.0, 100.0], [100.001, 100.0], [100.0, 100.0], [100.001, 100.0],
                     [100.0, 100.0]])  # fmt: skip
    good = learn_looks(((grey(im), p) for im, p in wings), canon)
    both = learn_looks([*((grey(im), p) for im, p in wings), (grey(wings[0][0]), line)], canon)
    assert np.allclose(both.spread, good.spread) and np.allclose(both.patches, good.patches)

"""Landmark decoding with plain arrays: Gaussian peaks placed between cells come back to a small
fraction of a cell; the cell maps invert; absent landmarks are None."""

from __future__ import annotations

import numpy as np
import pytest

from device.measuring.landmarks import from_cells, peaks, read_map, to_cells, to_frame


def place(heat, scale, stride, valid, frame_hw, absent_below):
    """One view's highest peaks in frame pixels, as the meter reads a map without a shape."""
    return to_frame(*read_map(heat, valid, None), scale, stride, frame_hw, absent_below)


def gauss(shape, centre, sigma=1.5, peak=1.0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return peak * np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2))


def test_cell_maps_invert_and_match_resizing():
    xy = np.array([[0.0, 0.0], [631.0, 479.0], [100.25, 7.5]])
    for scale, stride in [(0.5, 4), (0.75, 4), (1.0, 8)]:
        assert np.allclose(from_cells(to_cells(xy, scale, stride), scale, stride), xy)
    # at scale 1, stride 4: pixels 0..3 make cell 0, whose centre is pixel 1.5
    assert to_cells(np.array([[1.5, 1.5]]), 1.0, 4).tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("centre", [(10.0, 7.0), (10.3, 7.8), (3.5, 12.25), (20.9, 1.1)])
def test_a_gaussian_peak_comes_back_to_a_hundredth_of_a_cell(centre):
    heat = np.stack([gauss((16, 24), centre), gauss((16, 24), (5, 5), peak=0.4)])
    uv, height = peaks(heat)
    assert uv[0] == pytest.approx(centre, abs=0.01)
    assert uv[1] == pytest.approx((5, 5), abs=0.01) and height[1] == pytest.approx(0.4)


def test_padding_is_not_searched():
    heat = gauss((16, 24), (20, 12))[None] + gauss((16, 24), (4, 4), peak=0.5)[None]
    uv, _ = peaks(heat, valid=(10, 10))
    assert uv[0] == pytest.approx((4, 4), abs=0.05)


def test_non_finite_maps_are_refused():
    with pytest.raises(ValueError, match="finite"):
        peaks(np.full((1, 4, 4), np.nan))


def test_place_gives_frame_pixels_and_none_where_absent():
    heat = np.stack([gauss((16, 24), (10, 7)), gauss((16, 24), (3, 3), peak=0.02)])
    pts, conf = place(heat, 0.5, 4, (16, 24), (128, 192), absent_below=0.1)
    expected = from_cells(np.array([[10.0, 7.0]]), 0.5, 4)[0]
    assert pts[0] == pytest.approx(tuple(expected), abs=0.1) and pts[1] is None
    assert conf == [1.0, 0.02]


def test_a_peak_outside_the_frame_is_none():
    heat = gauss((16, 24), (22, 7))[None]
    pts, _ = place(heat, 0.5, 4, (16, 24), (128, 100), absent_below=0.1)
    assert pts == [None]


def test_candidates_are_the_highest_local_peaks_refined():
    from device.measuring.landmarks import candidates

    m = gauss((16, 24), (5.3, 4.0)) + gauss((16, 24), (18.0, 11.6), peak=0.6)
    m += gauss((16, 24), (12, 3), peak=0.03)  # under the floor: no candidate
    got = candidates(m)
    assert len(got) == 2
    assert got[0][:2] == pytest.approx((5.3, 4.0), abs=0.02) and got[0][2] > 0.95
    assert got[1][:2] == pytest.approx((18.0, 11.6), abs=0.02)


def test_the_taught_shape_picks_the_right_peak_of_a_map_with_two():
    from device.measuring.landmarks import candidates, choose
    from device.measuring.shapes import centroid_size

    shape = np.array([[4.0, 4.0], [20.0, 4.0], [20.0, 12.0], [4.0, 12.0], [12.0, 8.0]])
    mean = (shape - shape.mean(axis=0)) / centroid_size(shape)
    maps = np.stack([gauss((16, 24), p) for p in shape])
    # landmark 5's map peaks higher on landmark 2's spot than on its own
    maps[4] = gauss((16, 24), (20.0, 4.0)) + gauss((16, 24), (12.0, 8.0), peak=0.8)
    uv, height = choose([candidates(m) for m in maps], mean)
    assert uv[4] == pytest.approx((12.0, 8.0), abs=0.05)
    assert height[4] == pytest.approx(0.8, abs=0.02)
    assert np.allclose(uv[:4], shape[:4], atol=0.05)
    plain, _ = peaks(maps)
    assert plain[4] == pytest.approx((20.0, 4.0), abs=0.05)  # without the shape: the wrong one


def test_unflip_maps_a_flipped_views_cells_back():
    from device.measuring.landmarks import unflip

    uv = np.array([[2.0, 3.0], [0.0, 0.0]])
    # a 40x24 image (h, w) at stride 4: 6 cells across, 10 down
    assert unflip(uv, (40, 24), 4, (True, False)).tolist() == [[3.0, 3.0], [5.0, 0.0]]
    assert unflip(uv, (40, 24), 4, (False, True)).tolist() == [[2.0, 6.0], [0.0, 9.0]]
    assert unflip(unflip(uv, (40, 24), 4, (True, True)), (40, 24), 4, (True, True)).tolist() == (
        uv.tolist()
    )


def test_combining_views_outvotes_a_jumped_peak_and_skips_a_missing_one():
    from device.measuring.landmarks import combine

    nan = np.nan
    views = [
        np.array([[1.0, 1.0], [5.0, 5.0], [nan, nan]]),
        np.array([[1.2, 1.0], [5.2, 5.0], [nan, nan]]),
        np.array([[9.0, 9.0], [nan, nan], [nan, nan]]),  # landmark 1 jumped to a look-alike
        np.array([[1.1, 1.2], [5.1, 5.3], [2.0, 2.0]]),
    ]
    heights = [np.array([0.9, 0.8, 0.0]), np.array([0.7, 0.6, 0.0])] * 2
    uv, h = combine(views, heights)
    assert uv[0] == pytest.approx((1.15, 1.1))  # the middle two of four, per axis
    assert uv[1] == pytest.approx((5.1, 5.0))  # the median of the three that found it
    assert uv[2] == pytest.approx((2.0, 2.0))  # one view found it
    assert h == pytest.approx([0.8, 0.6, 0.0])  # the median; a view without it counts 0
    uv, _ = combine([np.array([[nan, nan]])] * 2, [np.array([0.5])] * 2)
    assert np.isnan(uv).all()


@pytest.mark.parametrize("views", [1, 2, 4])
def test_every_view_of_a_map_reads_the_same_landmarks(views):
    from device.measuring.landmarks import read_views

    small = np.zeros((40, 50), np.float32)  # 50: the last cell is half padding
    spots = [(9.0, 13.0), (41.5, 30.25)]

    def run(img: np.ndarray) -> np.ndarray:
        # a "network" that finds the bright pixels of its input (one map each), per 4x4 cell
        padded = np.pad(img, ((0, -img.shape[0] % 4), (0, -img.shape[1] % 4), (0, 0)))
        h, w = padded.shape[0] // 4, padded.shape[1] // 4
        return padded.reshape(h, 4, w, 4, -1).mean(axis=(1, 3)).transpose(2, 0, 1)

    img = np.stack([gauss(small.shape, s, sigma=3.0) for s in spots], axis=-1)
    uv, h = read_views(run, img, 4, None, views)
    want = to_cells(np.array(spots), 1.0, 4)
    assert uv == pytest.approx(want, abs=0.15) and (h > 0.5).all()


@pytest.mark.parametrize("shape, valid", [((3, 0, 0), (0, 0)), ((3, 4, 4), (0, 4))])
def test_empty_maps_are_refused_not_a_crash(shape, valid):
    from device.measuring.landmarks import read_map

    mean = np.array([[0.0, -0.5], [0.5, 0.2], [-0.5, 0.3]])
    for m in (None, mean):
        with pytest.raises(ValueError, match="finite"):
            read_map(np.zeros(shape, np.float32), valid, m)

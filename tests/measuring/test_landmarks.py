"""Landmark decoding with plain arrays: Gaussian peaks placed between cells come back to a small
fraction of a cell; the cell maps invert; absent landmarks are None."""

from __future__ import annotations

import numpy as np
import pytest

from device.measuring.landmarks import from_cells, peaks, place, to_cells


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

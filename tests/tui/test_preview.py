"""The TUI preview's shrink: plain integer means, whatever the image library does."""

import numpy as np

from device.measuring.overlay import class_colour, draw_overlay
from device.tui.preview import area_shrink, half_blocks


def test_whole_blocks_are_rounded_means():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2, :2] = [10, 20, 30]
    rgb[0, 0] = [11, 21, 31]  # block sum 41: mean 10.25 -> 10
    rgb[2:, 2:] = [255, 0, 1]
    rgb[2, 2] = [254, 1, 2]  # mean 254.75 -> 255, 0.25 -> 0, 1.25 -> 1
    out = area_shrink(rgb, 2, 2)
    assert out.dtype == np.uint8
    assert out.tolist() == [[[10, 20, 30], [0, 0, 0]], [[0, 0, 0], [255, 0, 1]]]


def test_uneven_cells_cover_every_pixel_once():
    rgb = np.arange(5 * 3, dtype=np.uint8).reshape(1, 5, 3).repeat(2, axis=0)
    out = area_shrink(rgb, 2, 1)
    # columns 0-1 and 2-4: means of 0,3 and 6,9,12 in channel 0
    assert out[0, :, 0].tolist() == [2, 9]  # 1.5 rounds half up, 9 exact


def test_half_ties_round_up_and_constant_stays():
    rgb = np.full((960, 1280, 3), 77, np.uint8)
    assert (area_shrink(rgb, 80, 44) == 77).all()
    two = np.array([[[0, 0, 0], [1, 1, 1]]], np.uint8)
    assert area_shrink(two, 1, 1).tolist() == [[[1, 1, 1]]]


def test_half_blocks_fit_the_cells_and_never_enlarge():
    rgb = np.zeros((960, 1280, 3), np.uint8)
    lines = half_blocks(rgb, 80, 20)
    assert len(lines) <= 20 and max(len(r) for r in lines) <= 80
    tiny = np.zeros((4, 6, 3), np.uint8)
    lines = half_blocks(tiny, 80, 20)
    assert len(lines) == 2 and len(lines[0]) == 6


def _distance(seg_style_colour, rgb) -> int:
    r, g, b = seg_style_colour.triplet
    return max(abs(r - rgb[0]), abs(g - rgb[1]), abs(b - rgb[2]))


def test_preview_shows_the_counted_points_in_their_colour():
    # What the TUI shows after a count (the snapshot tests see a flat frame instead): a point's
    # cell takes its class colour, with a tolerance for the library's anti-aliasing.
    frame = np.zeros((480, 640, 3), np.uint8)
    pic = draw_overlay(frame, [(400.0, 300.0, "egg")], {"egg": 1}, ["egg"], rings=False)
    lines = half_blocks(pic, 320, 120)  # 2 px per column and per half-row: a dot covers a cell
    row, col, top = 300 // 4, 400 // 2, (300 % 4) < 2
    seg = lines[row][col]
    colour = seg.style.color if top else seg.style.bgcolor
    assert _distance(colour, class_colour(0)) < 40
    far = lines[110][5].style  # bottom left: nothing drawn there
    assert _distance(far.color, (0, 0, 0)) == 0 and _distance(far.bgcolor, (0, 0, 0)) == 0

import numpy as np
import pytest

from device.decode import DecodeParams, decode, gaussian_kernel, place_points


def blob_map(shape, centres, sigma=1.0, mass=1.0):
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.zeros(shape)
    for x, y in centres:
        g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
        d += mass * g / g.sum()
    return d


def test_kernel_has_unit_mass():
    assert gaussian_kernel(1.3).sum() == pytest.approx(1.0)


def test_points_land_on_separate_blobs():
    centres = [(5, 5), (20, 8), (12, 25)]
    pts = place_points(blob_map((32, 32), centres), 3, 1.0)
    got = sorted((round(x), round(y)) for x, y in pts)
    assert got == sorted(centres)


def test_two_touching_objects_get_two_points():
    # Two objects so close that the map has a single peak: peak picking would say 1.
    d = blob_map((20, 20), [(9.5, 10), (10.5, 10)], sigma=1.5)
    assert d.sum() == pytest.approx(2.0, abs=1e-6)
    pts = place_points(d, 2, 1.5)
    assert len(pts) == 2
    for x, y in pts:
        assert abs(x - 10) <= 2 and abs(y - 10) <= 2


def test_decode_counts_are_rounded_sums_and_points_agree():
    d = np.stack([blob_map((24, 32), [(4, 4), (10, 10), (20, 5)]), blob_map((24, 32), [(28, 20)])])
    d[0] *= 1.1  # 3.3 -> 3
    out = decode(d, ["egg", "larva"], DecodeParams(stride=4, scale=1.0))
    assert out.counts == {"egg": 3, "larva": 1}
    assert [p[2] for p in out.points].count("egg") == 3
    assert [p[2] for p in out.points].count("larva") == 1
    assert out.sums["egg"] == pytest.approx(3.3)


def test_decode_maps_back_to_image_pixels():
    d = blob_map((16, 16), [(4, 8)])[None]
    out = decode(d, ["c"], DecodeParams(stride=4, scale=0.5))
    ((x, y, c),) = out.points
    # map cell 4 -> model pixels 18 (cell centre) -> image pixels 36 at scale 0.5
    assert (x, y, c) == (pytest.approx(36, abs=1), pytest.approx(68, abs=1), "c")


def test_padding_region_is_ignored():
    d = blob_map((16, 16), [(3, 3), (14, 14)])[None]
    out = decode(d, ["c"], DecodeParams(stride=4, scale=1.0), valid_hw=(40, 40))
    assert out.counts == {"c": 1}


def test_count_scale_and_negative_values():
    d = blob_map((16, 16), [(3, 3), (10, 10)])[None]
    d[0, 0, 0] = -5.0  # a model may emit small negatives; they never subtract objects
    out = decode(d, ["c"], DecodeParams(stride=4, scale=1.0, count_scale=1.5))
    assert out.counts == {"c": 3}
    assert len(out.points) == 3


def test_empty_map_gives_zero():
    out = decode(np.zeros((2, 8, 8)), ["a", "b"], DecodeParams(stride=4, scale=1.0))
    assert out.counts == {"a": 0, "b": 0} and out.points == []


def test_wrong_channel_count_is_an_error():
    with pytest.raises(ValueError):
        decode(np.zeros((2, 8, 8)), ["a"], DecodeParams(stride=4, scale=1.0))

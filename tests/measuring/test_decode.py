import numpy as np
import pytest

from device.measuring.decode import (
    DecodeParams,
    decode,
    gaussian_kernel,
    place_points,
    place_points_greedy,
)


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


def random_map(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Objects of random mass on a little noise (negative cells too), any size of map."""
    h, w = (int(v) for v in rng.integers(3, 120, 2))
    k = gaussian_kernel(sigma)
    r = k.shape[0] // 2
    d = np.pad(rng.normal(0, 0.002, (h, w)), r)
    for _ in range(int(rng.integers(0, h * w // 8 + 1))):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        d[y : y + 2 * r + 1, x : x + 2 * r + 1] += k * rng.uniform(0.5, 1.5)
    return d[r:-r, r:-r]


@pytest.mark.parametrize("quantized", [False, True])
def test_many_points_a_step_are_the_greedy_loops_points_in_its_order(quantized):
    """The batched placement must be the one-at-a-time loop exactly. An int8 model's map is
    quantized: many cells tie, and ties must break as the loop breaks them."""
    rng = np.random.default_rng(7 + quantized)
    for _ in range(60):
        sigma = float(rng.choice([0.5, 1.0, 1.5, 2.5]))
        d = random_map(rng, sigma)
        if quantized:
            d = np.round(d * 64) / 64
        n = int(round(max(d.sum(), 0) * rng.uniform(0.8, 1.3)))  # fewer and more than the mass
        fast, loop = place_points(d, n, sigma), place_points_greedy(d, n, sigma)
        assert len(fast) == len(loop) == n
        assert np.allclose(np.array(fast).reshape(-1, 2), np.array(loop).reshape(-1, 2), atol=1e-9)


def test_a_dense_map_takes_far_fewer_steps_than_points(monkeypatch):
    """8000 objects: the reason for batching (the loop is one Python iteration per point)."""
    import device.measuring.decode as dec

    rng = np.random.default_rng(3)
    k = gaussian_kernel(1.0)
    d = np.zeros((300, 400))
    for _ in range(8000):
        y, x = int(rng.integers(0, 294)), int(rng.integers(0, 394))
        d[y : y + 7, x : x + 7] += k
    steps = []
    real = dec._local_maxima
    monkeypatch.setattr(dec, "_local_maxima", lambda b: steps.append(1) or real(b))
    assert len(place_points(d, 8000, 1.0)) == 8000
    assert len(steps) < 400, len(steps)


def test_a_pile_of_objects_on_one_spot_goes_one_at_a_time_after_a_bounded_number_of_steps(
    monkeypatch,
):
    """A (broken or hostile) model can put thousands of objects in one cell: batching takes
    one point a step there, so after a bounded number of steps the plain loop takes over."""
    import device.measuring.decode as dec

    d = np.zeros((120, 160))
    d[60, 80] = 2000.0
    steps = []
    real = dec._local_maxima
    monkeypatch.setattr(dec, "_local_maxima", lambda b: steps.append(1) or real(b))
    pts = place_points(d, 2000, 1.0)
    assert len(steps) <= 96 + 2000 // 8
    assert np.allclose(pts, place_points_greedy(d, 2000, 1.0), atol=1e-9)

"""imageio: refusals and edge cases."""

import cv2
import numpy as np

from tests.conftest import run_cli, squares_image
from tests.support.cli_checks import one_line_error


def test_a_huge_picture_in_a_small_file_is_refused_before_decoding(tmp_path):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((9000, 9000), np.uint8))  # 81 Mpx, a few hundred KB
    assert big.stat().st_size < 2_000_000
    one_line_error(run_cli("count", str(big)), str(big), "larger than 64 Mpx")


def test_a_float_tiff_from_fiji_reads_like_its_8_bit_twin(tmp_path):
    from device.core.imageio import read_rgb

    rgb = squares_image([(40, 40), (100, 60)])
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "f.tif"), grey.astype(np.float32) / 255.0)
    cv2.imwrite(str(tmp_path / "u.png"), grey)
    diff = read_rgb(tmp_path / "f.tif").astype(int) - read_rgb(tmp_path / "u.png").astype(int)
    assert np.abs(diff).max() <= 1

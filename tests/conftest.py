from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support import onnx_fixtures

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SCOPECOUNT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_folder(name: str) -> Path:
    p = SHARED_DATA / name
    if not (p / "points.csv").exists():
        pytest.skip(f"shared data folder {p} is absent")
    return p


def run_cli(
    *args: str, stdin: bytes | None = None, timeout: float = 600, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    """The installed command line, as a user runs it (a separate process), in `cwd`."""
    exe = Path(sys.executable).with_name("scopecount")
    return subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, timeout=timeout, cwd=cwd
    )


def local_storage(tmp_path: Path, records: str = "rec") -> list[str]:
    """`run` arguments that keep records in a plain folder under tmp_path (not a stick) and the
    spool beside it."""
    return [
        "--storage",
        str(tmp_path / records),
        "--local-storage",
        "--spool",
        str(tmp_path / "spool"),
    ]


@pytest.fixture
def spot_model(tmp_path: Path) -> Path:
    """A model marked as trained on synthetic vials: the bench flags its records `demo`."""
    return onnx_fixtures.write(tmp_path / "spot.onnx", onnx_fixtures.bright_spot_model())


@pytest.fixture
def taught_model(tmp_path: Path) -> Path:
    """The same spots, as a model a lab taught on its own images: its records are counts."""
    return onnx_fixtures.write(tmp_path / "taught.onnx", onnx_fixtures.taught_spot_model())


@pytest.fixture
def areas_model(tmp_path: Path) -> Path:
    """An areas model by colour: red pixels are 'red', green ones 'green', the rest background."""
    return onnx_fixtures.write(tmp_path / "areas.onnx", onnx_fixtures.colour_areas_model())


def squares_image(centres: list[tuple[int, int]], shape=(128, 160), side: int = 16) -> np.ndarray:
    img = np.zeros((*shape, 3), np.uint8)
    for x, y in centres:
        img[y - side // 2 : y + side // 2, x - side // 2 : x + side // 2] = 255
    return img


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path

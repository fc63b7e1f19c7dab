"""`run --sim --sim-source PATH`: the bench on a lab's own photographs or a video."""

import signal

import cv2
import pytest

from device.core.errors import BadInput
from device.hardware.video import VideoReplayCamera
from tests.bench.test_headless import Headless
from tests.conftest import local_storage, run_cli, squares_image, write_png
from tests.support.cli_checks import one_line_error


def write_video(path, frames):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 128))
    for rgb in frames:
        w.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    w.release()
    return path


def counts_of_first_press(tmp_path, spot_model, source):
    (tmp_path / "rec").mkdir()
    h = Headless(
        tmp_path,
        "--sim-source",
        str(source),
        *local_storage(tmp_path),
        "--model",
        str(spot_model),
    )
    try:
        ready = h.next_event("ready")
        h.proc.send_signal(signal.SIGUSR1)
        return ready, h.next_event("recorded")
    finally:
        assert h.stop() == 0


def test_sim_replays_a_folder_of_own_photographs(tmp_path, spot_model):
    folder = tmp_path / "my-vials"
    write_png(folder / "images" / "v1.png", squares_image([(24, 24), (96, 40), (60, 100)]))
    ready, rec = counts_of_first_press(tmp_path, spot_model, folder)
    assert "images" in ready["camera"] and "1 images" in ready["camera"]
    assert rec["counts"] == {"spot": 3}


def test_sim_replays_a_video(tmp_path, spot_model):
    frame = squares_image([(24, 24), (96, 40)])
    video = write_video(tmp_path / "clip.avi", [frame] * 5)
    ready, rec = counts_of_first_press(tmp_path, spot_model, video)
    assert "clip.avi" in ready["camera"]
    assert rec["counts"] == {"spot": 2}


def test_video_camera_follows_the_clock_and_loops(tmp_path):
    frames = [squares_image([(24 + 40 * k, 40)]) for k in range(3)]
    video = write_video(tmp_path / "clip.avi", frames)
    now = [0.0]
    cam = VideoReplayCamera(video, clock=lambda: now[0])
    seen = []
    for t in (0.0, 0.1, 0.2, 0.3):  # 10 fps: frames 0, 1, 2, then 0 again
        now[0] = t + 0.01
        seen.append(cam.capture().meta["source"])
    cam.close()
    assert seen == ["clip.avi#0", "clip.avi#1", "clip.avi#2", "clip.avi#0"]


def test_not_a_video(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(BadInput, match="not a readable video"):
        VideoReplayCamera(bad, "--sim-source")


@pytest.mark.parametrize("name", ["missing", "empty"])
def test_bad_sim_source_is_one_line(tmp_path, spot_model, name):
    src = tmp_path / name
    if name == "empty":
        src.mkdir()
    (tmp_path / "rec").mkdir()
    proc = run_cli(
        "run",
        "--sim-source",
        str(src),
        "--headless",
        *local_storage(tmp_path),
        "--model",
        str(spot_model),
        timeout=60,
    )
    one_line_error(proc, "--sim-source", str(src))

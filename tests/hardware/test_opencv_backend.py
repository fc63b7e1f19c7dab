import cv2
import numpy as np
import pytest

from device.hardware.camera import CameraError, OpenCVCamera


def test_opencv_backend_reads_frames_and_reports_the_end(tmp_path):
    # A video file stands in for /dev/video0: OpenCV opens both through the same VideoCapture.
    path = tmp_path / "cam.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for _ in range(4):
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[..., 2] = 200  # red in BGR
        w.write(frame)
    w.release()
    cam = OpenCVCamera(str(path))
    f = cam.capture()  # skips two queued frames, returns the third
    assert f.rgb.shape == (120, 160, 3)
    assert f.rgb[60, 80, 0] > 150 and f.rgb[60, 80, 2] < 60  # RGB order
    with pytest.raises(CameraError, match="returned no frame"):
        cam.capture()
    cam.close()


def test_opencv_backend_missing_device():
    with pytest.raises(CameraError, match="cannot open camera"):
        OpenCVCamera("/dev/video-none")

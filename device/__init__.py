import os as _os

# A small file can hold a huge picture (a 425 KB PNG of 20000x20000 took 3.75 GB to count).
# OpenCV refuses to decode past this many pixels; it reads the variable when cv2 is imported,
# so it is set here, before any module of the project imports cv2.
MAX_IMAGE_PIXELS = 64 * 2**20
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))

"""How long a Raspberry Pi would take per frame, estimated per network design (no Pi here).

Cost per MAC is not constant: depthwise layers move more memory per MAC than full 3x3
convolutions (the `lite` network costs about twice the time per MAC of the full-convolution
`unet` here, int8), and small layers pay fixed per-operator overheads. So each design gets its
own figure: milliseconds per GMAC for one int8 1280x960 frame's inference (the frame resized,
made into the network's input, and run) on this project's reference x86 machine at one thread
(`scopecount benchmark --threads 1 --repeats 30`, 2026-12-01, quiet machine: a default lite
model (4x4 stem) at 1.96 GMAC in 54-63 ms; the shipped unet demo at 0.40 GMAC in 5.1-5.5 ms, a
unet at 1.98 GMAC in 19.8 ms), times how much slower each Pi is. Decoding the density into
points and the zoom check come on top: about 30 ms here for 500 objects. The Pi factors come
from one public reference point, YOLO11n in onnxruntime: about 168 ms on a Pi 5 (4 threads)
against 36-37 ms here at one thread; a Pi 4 taken as 2.5x a Pi 5 and a Zero 2 W (Cortex-A53 at
1 GHz) as 2.2x a Pi 4. They are estimates until `scopecount benchmark` runs on the Pi itself:
Cortex-A72/A53 have no int8 dot-product instructions, so int8 may gain less there.
"""

from __future__ import annotations

# int8, 1280x960 camera frame at the model's input scale, one thread, ms per GMAC here.
MS_PER_GMAC_HERE = {"unet": 14.0, "lite": 29.0}
PI_FACTOR = {"Pi 5": 4.6, "Pi 4": 11.6, "Zero 2 W": 25.5}


def seconds_per_frame(gmac: float, arch: str) -> dict[str, float]:
    """Estimated seconds per frame on each Pi for a model of this design and cost."""
    here = MS_PER_GMAC_HERE.get(arch, max(MS_PER_GMAC_HERE.values()))
    return {pi: gmac * here * f / 1000.0 for pi, f in PI_FACTOR.items()}


def describe(gmac: float, arch: str) -> str:
    est = seconds_per_frame(gmac, arch)
    return ", ".join(f"{pi} ~{s:.2f} s" for pi, s in est.items())


# The frame every cost figure is given for: the camera's 2x2-binned mode at 1280x960.
REFERENCE_FRAME_HW = (960, 1280)


def frame_gmac(macs_per_input_pixel: float, scale: float) -> float:
    """GMAC for one reference frame as the counter feeds it to the network, resized and padded
    (`train` records the MACs per input pixel)."""
    from device.measuring.preprocess import padded_input  # cv2: only where a figure is asked for

    h, w = padded_input(REFERENCE_FRAME_HW, scale)
    return macs_per_input_pixel * h * w / 1e9

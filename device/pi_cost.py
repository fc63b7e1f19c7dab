"""How long a Raspberry Pi would take per frame, estimated per network design (no Pi here).

Cost per MAC is not constant: depthwise layers move more memory per MAC than full 3x3
convolutions, and small layers pay fixed per-operator overheads. So each design gets its own
figure: milliseconds per GMAC for one int8 frame on this project's reference x86 machine (2
threads; `make bench` measures them again and prints them beside these), times how much slower
each Pi is. The Pi factors come from one public reference point, YOLO11n in onnxruntime
(about 168 ms on a Pi 5 against 21 ms here at 2 threads), a Pi 4 taken as 2.5x a Pi 5 and a
Zero 2 W (Cortex-A53 at 1 GHz) as 2.2x a Pi 4. They are estimates until `scopecount benchmark`
runs on the Pi itself.
"""

from __future__ import annotations

# int8, 1280x960 frame, 2 threads, ms per GMAC on the reference machine (make bench, 2026-11-30).
MS_PER_GMAC_HERE = {"unet": 14.0, "lite": 22.0, "demo": 20.0}
PI_FACTOR = {"Pi 5": 8.0, "Pi 4": 20.0, "Zero 2 W": 44.0}


def seconds_per_frame(gmac: float, arch: str) -> dict[str, float]:
    """Estimated seconds per frame on each Pi for a model of this design and cost."""
    here = MS_PER_GMAC_HERE.get(arch, max(MS_PER_GMAC_HERE.values()))
    return {pi: gmac * here * f / 1000.0 for pi, f in PI_FACTOR.items()}


def describe(gmac: float, arch: str) -> str:
    est = seconds_per_frame(gmac, arch)
    return ", ".join(f"{pi} ~{s:.2f} s" for pi, s in est.items())

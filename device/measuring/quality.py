"""Image checks on every capture: focus, exposure, empty field, QR label (pure functions)."""

from __future__ import annotations

import cv2
import numpy as np

from device.config import QualityCfg
from device.measuring.zoom import ZoomRef, flag_text

FLAG_TEXT = {
    "blurred": "out of focus: the count may be low",
    "underexposed": "too dark: check the LED ring",
    "overexposed": "too bright: glare or light too strong",
    "empty": "nothing in the field: is a vial under the scope?",
    "zoom": "objects far larger or smaller than the model was taught: check the zoom",
    "clock": "the clock is not known right (no time server): the date may be wrong",
    "demo": "demo model (synthetic vials only): not a count of this vial; teach your own",
    "not-learnt": "this model did NOT learn to count: not a count of this vial",
    "unsure": "a landmark is unsure or missing: check the wing before using its shape",
    "uncertain": "much of the frame lies between classes: check the class map before using "
    "the shares",
    "shape": "the landmarks are far from every taught shape: torn, folded or not a wing?",
}


def reasons(flags: list[str], zoom: float | None, ref: ZoomRef | None) -> list[str]:
    """Each flag in words; a zoom flag says how far, which way, and the model's range."""
    return [flag_text(zoom, ref) if f == "zoom" else FLAG_TEXT[f] for f in flags]


def _grey_small(rgb: np.ndarray, side: int = 640) -> np.ndarray:
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = g.shape
    f = side / max(h, w)
    if f < 1:
        g = cv2.resize(g, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    return g


def focus_measure(grey: np.ndarray) -> float:
    """Variance of the Laplacian: high for sharp edges, low for a blurred frame."""
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def image_flags(rgb: np.ndarray, cfg: QualityCfg) -> tuple[list[str], dict[str, float]]:
    """Flags (keys of FLAG_TEXT) and the figures behind them."""
    g = _grey_small(rgb)
    std = float(g.std())
    dark = float((g <= 8).mean())
    bright = float((g >= 250).mean())
    focus = focus_measure(g)
    flags = []
    if std < cfg.empty_std:
        flags.append("empty")
    elif focus < cfg.focus_min:
        flags.append("blurred")
    if dark > cfg.dark_max:
        flags.append("underexposed")
    if bright > cfg.bright_max:
        flags.append("overexposed")
    return flags, {"focus": round(focus, 1), "dark": round(dark, 3), "bright": round(bright, 3)}


def read_qr(rgb: np.ndarray) -> str | None:
    """Text of a QR code in the frame (a label on the vial), or None.

    One pass on a copy at most 1024 px wide (about 20 ms on a laptop core): a label big enough
    to read by eye is found there; finding on a smaller copy proved unreliable.
    """
    try:
        text, _, _ = cv2.QRCodeDetector().detectAndDecode(_grey_small(rgb, 1024))
    except cv2.error:
        return None
    return (text.strip()[:64] or None) if text else None

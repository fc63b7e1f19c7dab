"""Offline counting of image files: the work behind `scopecount count` (count_cmd.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from device.core.errors import BadInput
from device.core.imageio import encode, read_rgb, write_atomic
from device.core.writable import writable_dir
from device.measuring.area_overlay import draw_areas
from device.measuring.calibration import Calibration
from device.measuring.detector import open_detector_file
from device.measuring.landmark_overlay import draw_landmarks
from device.measuring.overlay import draw_overlay
from device.measuring.quality import reasons
from device.measuring.result import Measurement


def unique_overlay_names(images: list[str]) -> dict[str, str]:
    """One overlay per input: cameras reuse names (IMG_0001.jpg) across folders, so a name
    seen before gets -2, -3, ... instead of overwriting the first one's overlay."""
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for name in images:
        if name in out:
            continue
        stem = Path(name).stem
        n = seen.get(stem, 0) + 1
        seen[stem] = n
        out[name] = f"{stem}_overlay.png" if n == 1 else f"{stem}-{n}_overlay.png"
    return out


def scale_fields(res: Measurement, hw: tuple[int, int], um: float | None) -> dict[str, Any]:
    """um_per_px and what follows from it (per_mm2 or mm2); nothing for an uncalibrated run."""
    if um is None:
        return {}
    fields = Calibration("", um).record_fields(res, hw)
    del fields["objective"]  # an offline run names no objective, only the scale given
    return fields


def scaled_text(fields: dict[str, Any]) -> str:
    if "per_mm2" in fields:
        return " (" + ", ".join(f"{c} {v:g}/mm²" for c, v in fields["per_mm2"].items()) + ")"
    if "centroid_size_um" in fields:
        return f" ({fields['centroid_size_um']:g} µm)"
    if "mm2" in fields:
        return " (" + ", ".join(f"{c} {v:g} mm²" for c, v in fields["mm2"].items()) + ")"
    return ""


def landmarks_text(res: Measurement) -> str:
    if res.task != "landmarks":
        return ""
    size = "-" if res.centroid_size is None else f"{res.centroid_size:.1f}"
    found = sum(p is not None for p in res.landmarks)
    side = ", mirrored" if res.mirrored else ""
    return f"centroid size {size} px, {found}/{len(res.landmarks)} landmarks{side}"


def count_files(
    images: list[str],
    model: Path,
    as_json: bool,
    overlay_dir: Path | None,
    threads: int = 0,
    um_per_px: float | None = None,
) -> int:
    for name in images:
        p = Path(name)
        if p.is_dir():
            raise BadInput(f"{p}: is a folder, not an image file (name its images, e.g. {p}/*.png)")
        if not p.is_file():
            raise BadInput(f"{p}: no such image file")
    if overlay_dir is not None:
        writable_dir(overlay_dir, "--overlay")
    overlay_names = unique_overlay_names(images)
    counter = open_detector_file(model, threads)
    warning = counter.info.warning
    failed = 0
    for name in images:
        try:
            rgb = read_rgb(name)
        except BadInput as e:
            print(f"scopecount: error: {e}", file=sys.stderr)
            failed += 1
            continue
        res = counter.measure(rgb)
        scaled = scale_fields(res, rgb.shape[:2], um_per_px)
        if as_json:
            obj = {
                "image": name,
                "task": res.task,
                "counts": res.counts,
                "points": [[round(x, 1), round(y, 1), c] for x, y, c in res.points],
                "model": counter.name,
                "model_sha256": counter.sha256,
                "ms": round(res.ms, 2),
                "zoom": res.zoom,
                "flags": res.flags,
            }
            if res.task == "areas":  # the areas task's own keys (DESIGN.md, contracts)
                obj |= {"areas": res.areas, "pixels": res.pixels, "uncertain": res.uncertain}
            if res.task == "landmarks":
                obj |= res.record_fields(counter.info.classes)
            obj |= scaled
            if warning:
                obj["warning"] = warning
            print(json.dumps(obj), flush=True)
        else:
            txt = ", ".join(f"{c} {n}" for c, n in res.counts.items())
            txt += ", ".join(f"{c} {100 * f:.1f}%" for c, f in res.areas.items())
            txt += landmarks_text(res)
            txt += scaled_text(scaled)
            note = ""
            if res.rescaled and res.zoom is not None:
                note = f"; objects {res.zoom:.2f}x the taught size, counted rescaled"
            if res.flags:
                note += "; WARNING: " + "; ".join(reasons(res.flags, res.zoom, counter.info.zoom))
            demo = f"  [warning: {warning}]" if warning else ""
            print(f"{name}: {txt}  ({res.ms:.0f} ms{note}){demo}", flush=True)
        if overlay_dir is not None and res.task == "landmarks":
            pic = draw_landmarks(rgb, res.landmarks, res.centroid_size, res.mirrored, res.flags)
            write_atomic(overlay_dir / overlay_names[name], encode(pic, ".png"))
        elif overlay_dir is not None and res.class_map is not None:
            pic = draw_areas(rgb, res.class_map, res.areas, counter.info.classes, res.flags)
            write_atomic(overlay_dir / overlay_names[name], encode(pic, ".png"))
        elif overlay_dir is not None:
            # Rings just outside the objects, as large as the model sees them in this photograph
            size = counter.info.object_size_px * (res.zoom if res.rescaled and res.zoom else 1.0)
            pic = draw_overlay(
                rgb, res.points, res.counts, counter.info.classes, res.flags, radius=size + 3
            )
            write_atomic(overlay_dir / overlay_names[name], encode(pic, ".png"))
    return 2 if failed else 0

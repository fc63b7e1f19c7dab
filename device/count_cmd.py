"""`scopecount count IMAGE...`: offline counting of image files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from device.counter import Counter
from device.errors import BadInput
from device.imageio import encode, read_rgb, write_atomic
from device.overlay import draw_overlay
from device.quality import FLAG_TEXT


def count_files(
    images: list[str], model: Path, as_json: bool, overlay_dir: Path | None, threads: int = 0
) -> int:
    for name in images:
        p = Path(name)
        if not p.is_file():
            raise BadInput(f"{p}: no such image file")
    if overlay_dir is not None:
        if overlay_dir.exists() and not overlay_dir.is_dir():
            raise BadInput(f"--overlay {overlay_dir}: exists and is not a folder")
        overlay_dir.mkdir(parents=True, exist_ok=True)
    counter = Counter.from_file(model, threads)
    failed = 0
    for name in images:
        try:
            rgb = read_rgb(name)
        except BadInput as e:
            print(f"scopecount: error: {e}", file=sys.stderr)
            failed += 1
            continue
        res = counter.count(rgb)
        if as_json:
            obj = {
                "image": name,
                "counts": res.counts,
                "points": [[round(x, 1), round(y, 1), c] for x, y, c in res.points],
                "model": counter.name,
                "model_sha256": counter.sha256,
                "ms": round(res.ms, 2),
                "zoom": res.zoom,
                "flags": res.flags,
            }
            print(json.dumps(obj), flush=True)
        else:
            txt = ", ".join(f"{c} {n}" for c, n in res.counts.items())
            note = ""
            if res.rescaled and res.zoom is not None:
                note = f"; objects {res.zoom:.2f}x the taught size, counted rescaled"
            if res.flags:
                note += f"; WARNING: {FLAG_TEXT['zoom']}"
            print(f"{name}: {txt}  ({res.ms:.0f} ms{note})", flush=True)
        if overlay_dir is not None:
            pic = draw_overlay(rgb, res.points, res.counts, counter.info.classes)
            write_atomic(overlay_dir / f"{Path(name).stem}_overlay.png", encode(pic, ".png"))
    return 2 if failed else 0

"""`scopecount export FORMAT FOLDER OUT_DIR`: a training folder for another tool: points as
Fiji Cell Counter XML (export/importers.py), areas as QuPath GeoJSON or label images
(export/area_exporters.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from device.cli.options import Subcommands
from device.core.errors import BadInput


def register(sub: Subcommands) -> None:
    ex = sub.add_parser(
        "export",
        help="write a training folder for another tool (Fiji Cell Counter, QuPath, labels, "
        "TPS for MorphoJ and geomorph)",
        description="cellcounter: a points folder as Fiji Cell Counter XML. qupath: an areas "
        "folder as QuPath GeoJSON (OUT_DIR/NAME.geojson, one annotation per connected region "
        "per class; drop one on its image in QuPath to import it). Its outlines run "
        "through the centres of a region's edge pixels: scopecount reads them back exactly, "
        "but areas measured in QuPath come out slightly smaller (half a pixel on each side, "
        "most for small regions). labels: an areas folder's masks as label PNGs plus "
        "classes.csv. tps: a landmarks folder (a day folder too) as OUT_DIR/NAME.tps for "
        "MorphoJ or geomorph (y up from the bottom edge, a missing landmark -1 -1, SCALE= in "
        "mm per pixel from the records' calibration or --um-per-px) and "
        "OUT_DIR/NAME_centroid_sizes.csv.",
    )
    ex.add_argument("format", choices=["cellcounter", "qupath", "labels", "tps"])
    ex.add_argument("folder", metavar="FOLDER")
    ex.add_argument("out", metavar="OUT_DIR")
    ex.add_argument(
        "--with-background",
        action="store_true",
        help="qupath: the background class as annotations too (left out by default)",
    )
    ex.add_argument(
        "--um-per-px",
        type=float,
        metavar="X",
        help="tps: the images' scale (micrometres per pixel) for SCALE= and the sizes in mm",
    )
    ex.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from device.core.text import printable_path

    if a.format == "cellcounter":
        from export.importers import export_cellcounter

        root = Path(a.folder)
        areas = (root / "masks").is_dir() or (root / "classes.csv").is_file()
        if areas and not (root / "points.csv").exists():
            raise BadInput(
                f"{printable_path(root)}: an areas folder (masks/ or classes.csv, no "
                "points.csv); Cell Counter XML holds points: use `export qupath` or `export labels`"
            )
        n = export_cellcounter(a.folder, a.out)
        print(f"wrote {n} Cell Counter XML files to {a.out} (open them in Fiji's Cell Counter)")
        return 0
    if a.format == "tps":
        return _run_tps(a)
    if a.um_per_px is not None:
        raise BadInput("--um-per-px: for export tps only")
    from export.area_exporters import export_labels, export_qupath

    out = printable_path(a.out)
    if a.format == "qupath":
        n = export_qupath(a.folder, a.out, a.with_background)
        print(f"wrote {n} GeoJSON files to {out} (drop one on its image in QuPath)")
    else:
        n, zero_is_background = export_labels(a.folder, a.out)
        zero = "background" if zero_is_background else "unlabelled"
        print(f"wrote {n} label images and classes.csv to {out} (0 is {zero})")
    return 0


def _run_tps(a: argparse.Namespace) -> int:
    import math

    from device.core.objectives import UM_PER_PX_RANGE
    from device.core.text import printable_path
    from export.tps_files import export_tps

    um = a.um_per_px
    lo, hi = UM_PER_PX_RANGE
    if um is not None and not (math.isfinite(um) and lo <= um <= hi):
        raise BadInput(f"--um-per-px {um}: must be a number in [{lo}, {hi}]")
    tps, sizes, n = export_tps(a.folder, a.out, um)
    print(
        f"wrote {n} wings to {printable_path(tps)} and their centroid sizes to "
        f"{printable_path(sizes)}"
    )
    return 0

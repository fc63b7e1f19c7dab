"""`scopecount import FORMAT SRC FOLDER`: another tool's annotations into a training folder
(points: export/importers.py; areas: export/area_importers.py)."""

from __future__ import annotations

import argparse
import sys

from device.cli.options import Subcommands

POINT_FORMATS = ["cellcounter", "labelme", "cvat", "napari", "dotmask"]
AREA_FORMATS = ["labels", "qupath"]


def register(sub: Subcommands) -> None:
    im = sub.add_parser(
        "import",
        help="convert another tool's annotations into a training folder",
        description="Points: cellcounter (Fiji Cell Counter XML), labelme (JSON), cvat (CVAT for "
        "images 1.1 XML): points, and boxes, circles, ellipses and polygons at their centres "
        "(lines are skipped, and said so); napari (points layer CSV, one per image, named "
        "like the image), dotmask (PNG with one pixel per object, named <image>_dots.png). "
        "Areas, into an areas folder that already holds the images in images/: labels (a "
        "folder of label images, png or tif, 8- or 16-bit, one channel, named like the "
        "images; SRC/classes.csv (value,class) names the values, else value v is class "
        "class-v; 0 stays unlabelled; values over 255 get a free 8-bit value, which "
        "classes.csv records), qupath (QuPath's 'Export objects as GeoJSON', one file per "
        "image named like it, or a folder of them, 16 MiB at most each: classified polygons "
        "are painted, later over earlier; the rest stays 0, unlabelled, unless "
        "--fill-background). Both write masks/NAME.png and add their classes to classes.csv.",
    )
    im.add_argument("format", choices=POINT_FORMATS + AREA_FORMATS)
    im.add_argument("src", metavar="SRC", help="an annotation file or a folder of them")
    im.add_argument("folder", metavar="FOLDER", help="training folder to write (or add to)")
    im.add_argument("--images", metavar="DIR", help="where the images are (default: beside SRC)")
    im.add_argument("--label", default="object", help="class for napari/dotmask (default object)")
    im.add_argument("--replace", action="store_true", help="labels/qupath: overwrite masks")
    im.add_argument(
        "--fill-background",
        action="store_true",
        help="qupath: paint what no annotation covers as the class background",
    )
    im.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    if a.format in AREA_FORMATS:
        return _run_areas(a)
    from export.importers import import_annotations

    notes: list[str] = []
    n_img, n_pts = import_annotations(a.format, a.src, a.folder, a.images, a.label, notes)
    for line in notes:
        print(line, file=sys.stderr)
    print(f"imported {n_pts} points on {n_img} images into {a.folder}")
    return 0


def _run_areas(a: argparse.Namespace) -> int:
    from device.core.text import printable, printable_path
    from export.area_importers import import_labels, import_qupath

    if a.format == "labels":
        done = import_labels(a.src, a.folder, a.replace)
    else:
        done = import_qupath(a.src, a.folder, a.replace, a.fill_background)
    for line in done.notes:
        print(line, file=sys.stderr)
    classes = ", ".join(f"{v} {printable(n)}" for v, n in sorted(done.classes.items()))
    print(f"imported {done.masks} masks into {printable_path(a.folder)} (classes: {classes})")
    return 0

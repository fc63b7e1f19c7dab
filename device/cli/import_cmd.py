"""`scopecount import FORMAT SRC FOLDER`: another tool's annotations into a training folder
(export/importers.py)."""

from __future__ import annotations

import argparse
import sys

from device.cli.options import Subcommands


def register(sub: Subcommands) -> None:
    im = sub.add_parser(
        "import",
        help="convert another tool's annotations into a training folder",
        description="FORMAT: cellcounter (Fiji Cell Counter XML), labelme (JSON), cvat (CVAT for "
        "images 1.1 XML): points, and boxes, circles, ellipses and polygons at their centres "
        "(lines are skipped, and said so); napari (points layer CSV, one per image, named "
        "like the image), dotmask (PNG with one pixel per object, named <image>_dots.png).",
    )
    im.add_argument("format", choices=["cellcounter", "labelme", "cvat", "napari", "dotmask"])
    im.add_argument("src", metavar="SRC", help="an annotation file or a folder of them")
    im.add_argument("folder", metavar="FOLDER", help="training folder to write (or add to)")
    im.add_argument("--images", metavar="DIR", help="where the images are (default: beside SRC)")
    im.add_argument("--label", default="object", help="class for napari/dotmask (default object)")
    im.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from export.importers import import_annotations

    notes: list[str] = []
    n_img, n_pts = import_annotations(a.format, a.src, a.folder, a.images, a.label, notes)
    for line in notes:
        print(line, file=sys.stderr)
    print(f"imported {n_pts} points on {n_img} images into {a.folder}")
    return 0

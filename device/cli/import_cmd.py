"""`scopecount import FORMAT SRC FOLDER`: another tool's annotations into a training folder
(points: export/importers.py; areas: export/area_importers.py)."""

from __future__ import annotations

import argparse
import sys

from device.cli.options import Subcommands
from device.core.errors import BadInput

POINT_FORMATS = ["cellcounter", "labelme", "cvat", "napari", "dotmask"]
AREA_FORMATS = ["labels", "qupath"]
LANDMARK_FORMATS = ["tps"]

# Laid out by hand (RawDescriptionHelpFormatter): a line or two per format.
DESCRIPTION = """\
Convert another tool's annotations into a training folder.

Points, into FOLDER/points.csv (the images are copied into FOLDER/images/):
  cellcounter  Fiji Cell Counter XML
  labelme      LabelMe JSON
  cvat         CVAT for images 1.1 XML: points; boxes, circles, ellipses and
               polygons at their centres (lines are skipped, and said so)
  napari       a points layer CSV per image, named like the image
  dotmask      a PNG with one pixel per object, named <image>_dots.png

Areas, into an areas folder that already holds the images in FOLDER/images/
(writes FOLDER/masks/NAME.png and adds the classes to FOLDER/classes.csv):
  labels       a folder of label images named like the images: png or tif,
               8- or 16-bit, one channel. SRC/classes.csv (value,class) names
               the values, else value v is class class-v; 0 stays unlabelled;
               a value over 255 gets a free 8-bit value (classes.csv says which)
  qupath       QuPath's "Export objects as GeoJSON": a file per image named
               like it, or a folder of them (16 MiB at most each). Classified
               polygon annotations are painted, later over earlier; the rest
               stays 0 (unlabelled) unless --fill-background; detections
               (cells) only with --detections

Landmarks, into FOLDER/landmarks.csv, FOLDER/images/ holding the images:
  tps          a tpsDig TPS file (MorphoJ, geomorph): each specimen matched to
               its image by IMAGE= (a folder part is dropped); y is turned to
               run down from the top; negative coordinates are missing
               landmarks; --replace overwrites images that have landmarks
"""


def register(sub: Subcommands) -> None:
    im = sub.add_parser(
        "import",
        help="convert another tool's annotations into a training folder",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    im.add_argument(
        "format",
        choices=POINT_FORMATS + AREA_FORMATS + LANDMARK_FORMATS,
        metavar="FORMAT",
        help="one of the formats above",
    )
    im.add_argument("src", metavar="SRC", help="an annotation file or a folder of them")
    im.add_argument("folder", metavar="FOLDER", help="training folder to write (or add to)")
    im.add_argument(
        "--images",
        metavar="DIR",
        help="points formats: where the images are (default: beside each annotation file, "
        "or in images/ there); labels and qupath read FOLDER/images/",
    )
    im.add_argument("--label", default="object", help="class for napari/dotmask (default object)")
    im.add_argument(
        "--replace", action="store_true", help="labels/qupath: overwrite masks; tps: landmarks"
    )
    im.add_argument(
        "--fill-background",
        action="store_true",
        help="qupath: paint what no annotation covers as the class background",
    )
    im.add_argument(
        "--detections",
        action="store_true",
        help="qupath: paint detections (such as classified cells) too, not only annotations",
    )
    im.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    if a.format in LANDMARK_FORMATS:
        return _run_tps(a)
    if a.format in AREA_FORMATS:
        return _run_areas(a)
    from export.importers import import_annotations

    notes: list[str] = []
    n_img, n_pts = import_annotations(a.format, a.src, a.folder, a.images, a.label, notes)
    for line in notes:
        print(line, file=sys.stderr)
    print(f"imported {n_pts} points on {n_img} images into {a.folder}")
    return 0


def _run_tps(a: argparse.Namespace) -> int:
    from device.core.text import amount, printable_path
    from export.tps_files import import_tps

    if a.images is not None:
        raise BadInput("--images: for the points formats; tps reads FOLDER/images/")
    done = import_tps(a.src, a.folder, a.replace)
    for line in done.notes:
        print(line, file=sys.stderr)
    print(
        f"imported {amount(done.specimens, 'wing')} of {amount(done.landmarks, 'landmark')} into "
        f"{printable_path(a.folder)}/landmarks.csv"
    )
    return 0


def _run_areas(a: argparse.Namespace) -> int:
    from device.core.text import printable, printable_path
    from export.area_importers import import_labels, import_qupath

    if a.images is not None:
        raise BadInput(
            f"--images: for the points formats; {a.format} reads the images from "
            f"{printable_path(a.folder)}/images/ (put them there first)"
        )
    if a.format == "labels":
        done = import_labels(a.src, a.folder, a.replace)
    else:
        done = import_qupath(a.src, a.folder, a.replace, a.fill_background, a.detections)
    for line in done.notes:
        print(line, file=sys.stderr)
    classes = ", ".join(f"{v} {printable(n)}" for v, n in sorted(done.classes.items()))
    print(f"imported {done.masks} masks into {printable_path(a.folder)} (classes: {classes})")
    return 0

"""`scopecount demo FOLDER`: synthetic demo vials, as a training folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from device.cli.options import Subcommands


def register(sub: Subcommands) -> None:
    d = sub.add_parser("demo", help="generate synthetic demo vials (a training folder)")
    d.add_argument("out", metavar="FOLDER")
    d.add_argument("--images", type=int, default=8)
    d.add_argument(
        "--seed",
        type=int,
        default=2,
        help="default 2: vials the shipped demo model never saw (it learnt from seed 1)",
    )
    d.add_argument("--width", type=int, default=1280)
    d.add_argument("--height", type=int, default=960)
    d.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from device.hardware.synthetic import write_demo_folder  # OpenCV and numpy

    write_demo_folder(Path(a.out), a.images, a.seed, (a.height, a.width))
    print(f"wrote {a.images} synthetic vial images and points.csv to {a.out}")
    return 0

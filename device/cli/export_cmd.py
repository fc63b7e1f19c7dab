"""`scopecount export cellcounter FOLDER OUT_DIR`: a training folder as Fiji Cell Counter XML
(export/importers.py)."""

from __future__ import annotations

import argparse

from device.cli.options import Subcommands


def register(sub: Subcommands) -> None:
    ex = sub.add_parser("export", help="write a training folder as Fiji Cell Counter XML")
    ex.add_argument("format", choices=["cellcounter"])
    ex.add_argument("folder", metavar="FOLDER")
    ex.add_argument("out", metavar="OUT_DIR")
    ex.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from export.importers import export_cellcounter

    n = export_cellcounter(a.folder, a.out)
    print(f"wrote {n} Cell Counter XML files to {a.out} (open them in Fiji's Cell Counter)")
    return 0

"""`scopecount annotate FOLDER`: a local web page to add, move and remove points, or to paint
the masks of an areas folder (export/annotate_server.py)."""

from __future__ import annotations

import argparse

from device.cli.options import Subcommands, add_model_option
from device.core.errors import BadInput


def register(sub: Subcommands) -> None:
    an = sub.add_parser(
        "annotate",
        help="a local web page to add, move and remove points, or to paint masks",
        description="Serve FOLDER on 127.0.0.1: click to add a point, click a point to remove "
        "it, drag to move, wheel to zoom. With --model, images without points start with the "
        "model's predictions. Every change is saved to FOLDER/points.csv atomically. An areas "
        "folder (masks/ or classes.csv, or --paint) is painted instead: brush, eraser, fill "
        "and undo; Ctrl+S (or moving to another image) saves FOLDER/masks/NAME.png and "
        "classes.csv. A landmarks folder (landmarks.csv, or --landmarks N) places numbered "
        "landmarks: click places the next one, drag moves one, s skips a missing one; saved "
        "to FOLDER/landmarks.csv.",
    )
    an.add_argument("folder", metavar="FOLDER")
    add_model_option(an, "pre-fill points (a count model) or masks (an areas model)")
    an.add_argument(
        "--paint", action="store_true", help="paint masks (areas) even in a folder of only images/"
    )
    an.add_argument(
        "--classes",
        metavar="A,B",
        type=_classes,
        help="classes to offer besides the folder's (paint default without classes.csv: region)",
    )
    an.add_argument(
        "--landmarks",
        type=int,
        metavar="N",
        help="place N landmarks per image (landmark mode; a folder with landmarks.csv or "
        "landmarks-names.csv, or a landmarks --model, says how many itself)",
    )
    an.add_argument("--port", type=int, default=0, help="default: a free port")
    an.add_argument("--no-browser", action="store_true", help="do not open a browser")
    an.set_defaults(func=run)


def _classes(text: str) -> list[str]:
    """A,B as checked class names (they become mask classes and CSV cells)."""
    from export.annotate_guard import Refused, check_name

    out: list[str] = []
    for part in text.split(","):
        try:
            name = check_name(part, "--classes: class")
        except Refused as e:
            raise argparse.ArgumentTypeError(e.reason) from None
        if name.casefold() not in {c.casefold() for c in out}:
            out.append(name)
    return out


def run(a: argparse.Namespace) -> int:
    try:
        from export.annotate_server import address, serve
    except ImportError as e:
        raise BadInput(f"annotate: {e}") from None

    try:
        server = serve(
            a.folder, a.model, a.port, paint=a.paint, classes=a.classes, landmarks=a.landmarks
        )
    except OSError as e:  # the folder was read: what failed is the address
        raise BadInput(f"--port {a.port}: cannot listen on 127.0.0.1 ({e.strerror})") from None
    url = address(server)
    # First line: the full address, secret included (the API refuses requests without it).
    print(url, flush=True)
    if server.mode == "paint":
        saved = "paint is saved with Ctrl+S or on moving to another image"
    else:
        saved = "every change is saved"
    print(f"annotating {a.folder} (Ctrl-C to stop; {saved})", flush=True)
    if not a.no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0

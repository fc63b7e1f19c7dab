"""`scopecount`: the one command. Subcommands that need torch import export/ lazily."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from device.cli import clock_cmd, commands
from device.config import DEFAULT_STORE
from device.core.errors import BadInput
from device.core.text import printable


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the value, and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse quotes the value it refused: a person's text, of any length, with anything
        # in it (a newline would break the one line, an escape would reach the terminal)
        sys.stderr.write(f"{self.prog}: error: {printable(message, 300)} (see --help)\n")
        sys.exit(2)


def _whole(text: str, lo: int, hi: int, span: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if not lo <= n <= hi:
        raise argparse.ArgumentTypeError(f"{n}: must be {span}")
    return n


def _threads(text: str) -> int:
    return _whole(text, 0, 256, "0 (all cores) to 256")


def _repeats(text: str) -> int:
    return _whole(text, 1, 10_000, "1 to 10000")


def _radius(text: str) -> float:
    try:
        r = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of pixels") from None
    if not 0.5 <= r <= 1000:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text}: must be 0.5 to 1000 pixels")
    return r


def _zoom_list(text: str) -> list[float]:
    try:
        zooms = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers like 0.7,1,1.4") from None
    if not zooms or not all(0.1 <= z <= 10 for z in zooms):
        raise argparse.ArgumentTypeError(f"{text!r}: each zoom must be 0.1 to 10")
    return zooms


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="scopecount",
        description="Count objects under the microscope: fly eggs, beetles, flies, cells.",
    )
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=OneLineParser)

    c = sub.add_parser("count", help="count objects in image files")
    c.add_argument("images", nargs="+", metavar="IMAGE", help="png, jpg or tif files")
    c.add_argument("--model", help="model file (.onnx); default: the shipped demo model")
    c.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    c.add_argument("--overlay", metavar="DIR", help="write PNGs with the counted points here")
    c.add_argument("--threads", type=_threads, default=0, help="inference threads (0: all cores)")
    c.set_defaults(func=commands.count)

    t = sub.add_parser(
        "train",
        help="teach a new object from a training folder",
        description="Train from scratch on FOLDER (images/ + points.csv), export ONNX, quantize "
        "to int8 (calibrated on the training images), check int8 against float, write --out "
        "plus a .float.onnx, a .report.json and a .curve.png beside it.",
    )
    t.add_argument("folder", metavar="FOLDER")
    t.add_argument("--out", required=True, metavar="FILE", help="the int8 model to write (.onnx)")
    t.add_argument(
        "--steps",
        type=int,
        default=6000,
        help="training steps (default 6000: 2-5 minutes on a 2-core laptop): the same folder, "
        "seed and steps give the same model on a quiet or a busy machine",
    )
    t.add_argument(
        "--minutes",
        type=float,
        help="stop after this many minutes even if the steps are not done (the model then "
        "says so in its metadata); default: no limit",
    )
    t.add_argument(
        "--object-size", type=float, help="object diameter in pixels (default: measured)"
    )
    t.add_argument(
        "--object-px",
        type=float,
        help="size the network sees objects at, in its own pixels (default 32, or less when "
        "the cost budget asks for it)",
    )
    t.add_argument(
        "--budget-gmac",
        type=float,
        default=2.0,
        help="most multiply-accumulates (in billions) per 1280x960 camera frame (default 2.0); "
        "the input scale is lowered to fit it; train prints the estimated seconds per frame "
        "on each Pi for the network design",
    )
    t.add_argument(
        "--arch",
        default="lite",
        choices=["lite", "unet"],
        help="network design: lite (default; a 4x4 patch stem and depthwise-separable blocks, "
        "the lower held-out errors, about 0.7 s of inference per frame on a Pi 4 at 2 GMAC, "
        "estimated) or unet (full 3x3 convolutions, about 0.3 s, higher errors on small "
        "crowded cells)",
    )
    t.add_argument("--width", type=int, default=24, help="network width (default 24)")
    t.add_argument(
        "--threads", type=int, default=2, help="CPU threads for training (default 2, fixed)"
    )
    t.add_argument("--name", help="model name stored in the file (default: file name)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=commands.train)

    e = sub.add_parser("evaluate", help="measure a model (or a learning curve) on a folder")
    e.add_argument("folder", metavar="FOLDER")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", metavar="FILE", help="the model file (.onnx) to measure")
    g.add_argument("--learning-curve", action="store_true", help="train on 1, 2, 4, ... images")
    e.add_argument("--json", action="store_true", help="print the figures as JSON")
    e.add_argument(
        "--radius",
        type=_radius,
        help="point matching radius in px (default: half the model's object size, at least 3 px)",
    )
    e.add_argument(
        "--plot",
        metavar="PNG",
        help="where to write the picture (default: MODELNAME_on_FOLDERNAME_scatter.png beside "
        "the model, or FOLDERNAME_learning_curve.png beside the folder; the full path is printed)",
    )
    e.add_argument(
        "--zooms",
        type=_zoom_list,
        default=[1.0],
        metavar="Z,Z,...",
        help="also count every image resized by these factors, as after turning the zoom knob "
        "(e.g. 0.7,1,1.4); one line of figures per zoom",
    )
    e.add_argument(
        "--steps",
        type=int,
        default=1000,
        help="training steps per model, for --learning-curve (default 1000: a curve trains many "
        "models, each weaker than `train`'s 6000 steps make; the curve's shape is what it shows)",
    )
    e.add_argument(
        "--minutes", type=float, help="time limit per model, for --learning-curve (default none)"
    )
    e.set_defaults(func=commands.evaluate)

    r = sub.add_parser(
        "run",
        help="the bench: button, light, camera, count, record",
        description="Run the counting bench. Space (or the button, or SIGUSR1) counts the vial "
        "under the scope; a long hold (or v) voids the last record; SIGTERM stops cleanly.",
    )
    r.add_argument(
        "--config", metavar="FILE", help="TOML config (default /etc/scopecount/config.toml)"
    )
    r.add_argument("--sim", action="store_true", help="simulated camera, light and button")
    r.add_argument(
        "--sim-source",
        metavar="PATH",
        help="with --sim (implied), replay your own photographs (a folder of images, or a "
        "training or day folder) or a video instead of the synthetic demo vials",
    )
    r.add_argument("--headless", action="store_true", help="no UI: one JSON event per line")
    r.add_argument(
        "--storage", metavar="DIR", help="where records go (the USB stick's mount point)"
    )
    r.add_argument("--spool", metavar="DIR", help="SD-card spool while no stick is mounted")
    r.add_argument(
        "--local-storage",
        action="store_true",
        help="--storage is a plain folder, not a removable stick (demos, desktop use)",
    )
    r.add_argument("--model", metavar="FILE", help="count with this model file (not watched)")
    r.add_argument("--store", metavar="DIR", help=f"model store (default {DEFAULT_STORE})")
    r.set_defaults(func=commands.run)

    cf = sub.add_parser("config", help="check or show the config file")
    cf.add_argument("action", choices=["check", "show"])
    cf.add_argument("--config", metavar="FILE")
    cf.set_defaults(func=commands.config)

    m = sub.add_parser(
        "model",
        help="the bench's model store: install, receive, list, activate, rollback, sign",
        description="install FILE | receive (stdin) | list [--json] | activate NAME_OR_SHA | "
        "rollback | sign FILE --key KEY | authorize-key PUBKEY_FILE [--install]",
    )
    m.add_argument(
        "action",
        choices=["install", "receive", "list", "activate", "rollback", "sign", "authorize-key"],
    )
    m.add_argument("target", nargs="?", metavar="FILE|NAME_OR_SHA|PUBKEY_FILE")
    m.add_argument("--store", metavar="DIR", help=f"default {DEFAULT_STORE}")
    m.add_argument("--config", metavar="FILE", help="for limits and trusted keys")
    m.add_argument("--json", action="store_true")
    m.add_argument("--sig", help="detached signature (base64) for install/receive")
    m.add_argument(
        "--force",
        action="store_true",
        help="install: take a model that `train` marked as NOT learnt (its counts mean nothing)",
    )
    m.add_argument(
        "--reinstall",
        action="store_true",
        help="install: take back a model this store held before and replaced "
        "(a signed-only store refuses that otherwise)",
    )
    m.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="receive: give up when standard input is idle this long (default 30)",
    )
    m.add_argument("--key", metavar="KEY", help="ed25519 private key, for sign")
    m.add_argument("--install", action="store_true", help="authorize-key: append it")
    m.add_argument("--authorized-keys", metavar="FILE", help="default ~/.ssh/authorized_keys")
    m.set_defaults(func=commands.model)

    dp = sub.add_parser(
        "deploy",
        help="push a model to a bench over SSH",
        description="Stream FILE (and FILE.sig if present) to the bench's `scopecount model "
        "receive` through the system ssh client, with normal host-key checking.",
    )
    dp.add_argument("host", metavar="[USER@]HOST")
    dp.add_argument("file", metavar="FILE")
    dp.add_argument("--port", type=int)
    dp.add_argument("--identity", metavar="KEY")
    dp.add_argument(
        "--ssh-option",
        action="append",
        default=[],
        metavar="OPT",
        help="passed to ssh as -o OPT (e.g. UserKnownHostsFile=...)",
    )
    dp.set_defaults(func=commands.deploy)

    an = sub.add_parser(
        "annotate",
        help="a local web page to add, move and remove points",
        description="Serve FOLDER on 127.0.0.1: click to add a point, click a point to remove "
        "it, drag to move, wheel to zoom. With --model, images without points start with the "
        "model's predictions. Every change is saved to FOLDER/points.csv atomically.",
    )
    an.add_argument("folder", metavar="FOLDER")
    an.add_argument("--model", metavar="FILE", help="pre-fill points with this model")
    an.add_argument("--port", type=int, default=0, help="default: a free port")
    an.add_argument("--no-browser", action="store_true", help="do not open a browser")
    an.set_defaults(func=commands.annotate)

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
    im.set_defaults(func=commands.import_)

    ex = sub.add_parser("export", help="write a training folder as Fiji Cell Counter XML")
    ex.add_argument("format", choices=["cellcounter"])
    ex.add_argument("folder", metavar="FOLDER")
    ex.add_argument("out", metavar="OUT_DIR")
    ex.set_defaults(func=commands.export)

    bm = sub.add_parser(
        "benchmark",
        help="time counting one camera frame on this machine (run it on the Pi)",
        description="Median and 95th percentile time to count a 640x480 and a 1280x960 frame "
        "(resize, inference, points and the zoom check: all a press costs after the capture), "
        "the inference alone, per model and thread count, with the model's GMAC per frame and "
        "file size.",
    )
    bm.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FILE",
        help="a model file (repeat for several); default: the shipped model and its float twin",
    )
    bm.add_argument(
        "--threads",
        type=_threads,
        nargs="+",
        default=[1, 2, 4],
        help="inference thread counts to time (default: 1 2 4)",
    )
    bm.add_argument(
        "--repeats", type=_repeats, default=10, help="timed counts per row (default 10)"
    )
    bm.set_defaults(func=commands.benchmark)

    clock_cmd.add_parser(sub)

    doc = sub.add_parser("doctor", help="check camera, GPIO, storage, model, clock, service")
    doc.add_argument("--config", metavar="FILE")
    doc.set_defaults(func=commands.doctor)

    rc = sub.add_parser("records", help="what is on a stick: totals per day and sample")
    rc.add_argument("action", choices=["summary"])
    rc.add_argument("dir", metavar="DIR", help="the stick (or any folder holding scopecount/)")
    rc.add_argument("--csv", metavar="FILE", help="also write every record into one CSV")
    rc.set_defaults(func=commands.records)

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
    d.set_defaults(func=commands.demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BadInput as e:
        print(f"scopecount: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and nobody to say it to.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if os.environ.get("SCOPECOUNT_DEBUG"):
            raise
        print(f"scopecount: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

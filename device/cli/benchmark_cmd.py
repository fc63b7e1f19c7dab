"""`scopecount benchmark`: time counting one camera frame on this machine (the work is
device/cli/benchmark.py, with OpenCV and onnxruntime: imported when the command runs)."""

from __future__ import annotations

import argparse

from device.cli.options import Subcommands, add_model_option, add_threads_option, repeats


def register(sub: Subcommands) -> None:
    bm = sub.add_parser(
        "benchmark",
        help="time counting one camera frame on this machine (run it on the Pi)",
        description="Median and 95th percentile time to count a 640x480 and a 1280x960 frame "
        "(resize, inference, points and the zoom check: all a press costs after the capture), "
        "the inference alone, per model and thread count, with the model's GMAC per frame and "
        "file size.",
    )
    add_model_option(
        bm,
        "a model file (repeat for several); default: the shipped model and its float twin",
        action="append",
        default=[],
    )
    add_threads_option(
        bm, "inference thread counts to time (default: 1 2 4)", default=[1, 2, 4], nargs="+"
    )
    bm.add_argument("--repeats", type=repeats, default=10, help="timed counts per row (default 10)")
    bm.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from device.cli.benchmark import benchmark_cmd

    return benchmark_cmd(a.model, a.threads, a.repeats)

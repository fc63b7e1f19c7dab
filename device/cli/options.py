"""What several commands' arguments share: the `--model`, `--threads`, `--config` and `--store`
options, and the value types that check a number where argparse reads it (a usage error names
the value, before any work starts)."""

from __future__ import annotations

import argparse
from typing import Any, Literal

from device.config import DEFAULT_PATH, DEFAULT_STORE

# What `add_subparsers` returns: each command module adds its own parser to it.
Subcommands = argparse._SubParsersAction
# A parser or one of its groups (evaluate's `--model` is in a mutually exclusive group).
Target = argparse._ActionsContainer


def _whole(text: str, lo: int, hi: int, span: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if not lo <= n <= hi:
        raise argparse.ArgumentTypeError(f"{n}: must be {span}")
    return n


def inference_threads(text: str) -> int:
    return _whole(text, 0, 256, "0 (all cores) to 256")


def repeats(text: str) -> int:
    return _whole(text, 1, 10_000, "1 to 10000")


def radius(text: str) -> float:
    try:
        r = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of pixels") from None
    if not 0.5 <= r <= 1000:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text}: must be 0.5 to 1000 pixels")
    return r


def zoom_list(text: str) -> list[float]:
    try:
        zooms = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers like 0.7,1,1.4") from None
    if not zooms or not all(0.1 <= z <= 10 for z in zooms):
        raise argparse.ArgumentTypeError(f"{text!r}: each zoom must be 0.1 to 10")
    return list(dict.fromkeys(zooms))  # each zoom once, in the order given


def turn_angle(text: str) -> float | Literal["random"]:
    """`--turn`: degrees counter-clockwise (-360 to 360, kept as given), or `random` (a seeded
    angle per image)."""
    if text == "random":
        return "random"
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected degrees or random") from None
    if not -360 <= v <= 360:  # NaN included
        raise argparse.ArgumentTypeError(f"{text!r}: degrees must be -360 to 360")
    return v


def add_model_option(
    target: Target, help: str, metavar: str | None = "FILE", **kwargs: Any
) -> argparse.Action:
    """`--model`: a model file (.onnx). `metavar=None` shows argparse's own MODEL (as `count`
    always has); `kwargs` for benchmark's repeatable list."""
    return target.add_argument("--model", metavar=metavar, help=help, **kwargs)


def add_threads_option(
    target: Target, help: str, default: int | list[int], **kwargs: Any
) -> argparse.Action:
    """`--threads`: inference threads, 0 meaning all cores, unless a command (train) gives its
    own `type`."""
    kwargs.setdefault("type", inference_threads)
    return target.add_argument("--threads", default=default, help=help, **kwargs)


def add_config_option(target: Target, help: str | None = None) -> argparse.Action:
    """`--config FILE`: the TOML config (device/config.py reads DEFAULT_PATH without it)."""
    return target.add_argument("--config", metavar="FILE", help=help)


def config_help(what: str) -> str:
    """A `--config` help naming the file read without it."""
    return f"{what} (default {DEFAULT_PATH})"


def add_store_option(target: Target, what: str = "") -> argparse.Action:
    """`--store DIR`: the model store, DEFAULT_STORE without it (device/config.py names it, the
    config's [model] store may move it)."""
    default = f"{what} (default {DEFAULT_STORE})" if what else f"default {DEFAULT_STORE}"
    return target.add_argument("--store", metavar="DIR", help=default)

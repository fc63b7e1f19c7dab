"""What `train` is asked for: its options with their defaults, the checks of them made before
any work (a typo costs seconds, not a training run), and its refusals."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from device.core.errors import BadInput
from device.core.names import problem
from device.core.text import printable
from device.core.writable import writable_file
from device.measuring.modelfile import MAX_NAME_CHARS
from device.measuring.pi_cost import REFERENCE_FRAME_HW
from export.net import ARCHS

# Objects are shown to the network at this diameter (model-input pixels). Larger lets the
# stride-4 output separate crowded objects, at a cost per frame that grows with its square:
# bone marrow held out (two random splits) gave MAE 6.4 at 12 px, 6.2 at 16, 6.0 at 20, 5.1 at
# 24, 4.5 at 32 (two seeds alike) and 6.3 at 40. A smaller --object-px makes a faster model.
DEFAULT_OBJECT_PX = 32.0


# Every model `train` makes has a bounded cost per 1280x960 frame: the input scale is lowered
# until the network's MACs fit this budget. Seconds per MAC differ per design
# (device/measuring/pi_cost.py): at 2 GMAC the lite network is estimated at about 0.7 s on a
# Pi 4, the unet at about 0.3 s.
DEFAULT_BUDGET_GMAC = 2.0
# Chosen on validation splits inside the first bench split's training images (never on the
# images the bench reports), 6000 steps against 3000: mosquito eggs held-out MRE 1.29% against
# 3.94% (3 splits), bone marrow MAE 8.44 against 9.19 (4 splits), adipocytes 12.10 against
# 12.11 (4 splits). Training takes twice as long: minutes on a laptop.
DEFAULT_STEPS = 6000


@dataclass
class TrainOptions:
    steps: int = DEFAULT_STEPS
    minutes: float | None = None  # an upper bound on training time; None: no limit
    object_size: float | None = None  # measured from the annotations when None
    object_px: float = DEFAULT_OBJECT_PX
    budget_gmac: float = DEFAULT_BUDGET_GMAC
    arch: str = "lite"
    width: int = 24
    # One thread: on 2 cores a second one trained counting no faster (300 steps of mosquito
    # eggs: 16 s either way), areas 1.27x and landmarks 1.14x faster, and doubled the time beside
    # one busy program, where one thread keeps its own core (tests/benchmarks/busy_training.py).
    threads: int = 1
    sigma_frac: float = 0.5  # target blur at the model's input, as a fraction of the object size
    scale_jitter: float = 0.2  # train on objects up to 20% larger or smaller than measured
    name: str | None = None
    device: str = "auto"
    seed: int = 0
    description: str = ""
    synthetic: bool = False
    frame: tuple[int, int] = REFERENCE_FRAME_HW  # for the MACs line
    # Measure the zooms the model counts well at on held-back images (export/zoom_check.py):
    # a second, shorter-lived training run first.
    zoom_range: bool = True
    checking_zoom: bool = False  # set for the zoom check's first model, which `train` discards
    # Set by the zoom check for its first model: the whole folder's main object size and each
    # image's own size where taken at another zoom (by name), so that the first model's 1x is
    # the final model's even where its part of the folder would measure otherwise.
    sizes: tuple[float, dict[str, float | None]] | None = None


class TrainRefused(Exception):
    """Training ran but its result is not fit to count with (exit 1, one line)."""


class Int8Refused(TrainRefused):
    """The int8 model counts differently from the float model by more than the tolerance."""


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput(f"--device {name}: no CUDA GPU is available here (use cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise BadInput(f"--device {name}: expected auto, cpu or cuda")
    return name


def check_options(out: Path, opts: TrainOptions) -> None:
    """Every option checked before any work, so a typo costs seconds, not a training run."""
    if out.suffix != ".onnx":
        raise BadInput(f"--out {out}: the model file name must end in .onnx")
    writable_file(out, "--out")  # now, not after minutes of training
    if not 1 <= opts.steps <= 1_000_000:
        raise BadInput(f"--steps {opts.steps}: must be 1 to 1000000")
    if opts.name is not None and (why := problem(opts.name, MAX_NAME_CHARS)):
        raise BadInput(f"--name '{printable(opts.name[:80])}': the model name {why}")
    if opts.minutes is not None and not 0 < opts.minutes < 100_000:
        raise BadInput(f"--minutes {opts.minutes}: must be more than 0 and less than 100000")
    if opts.object_size is not None and not 1.0 <= opts.object_size <= 1000.0:
        raise BadInput(f"--object-size {opts.object_size}: must be 1 to 1000 pixels")
    if not 4.0 <= opts.object_px <= 64.0:
        raise BadInput(f"--object-px {opts.object_px}: must be 4 to 64 pixels")
    if not 0.05 <= opts.budget_gmac <= 1000.0:
        raise BadInput(f"--budget-gmac {opts.budget_gmac}: must be 0.05 to 1000")
    if opts.arch not in ARCHS:
        raise BadInput(f"--arch {opts.arch}: expected one of {', '.join(ARCHS)}")
    if not 4 <= opts.width <= 128:
        raise BadInput(f"--width {opts.width}: must be 4 to 128")
    if not 1 <= opts.threads <= 256:
        raise BadInput(f"--threads {opts.threads}: must be 1 to 256")
    cores = os.cpu_count() or 1
    if opts.threads > cores:
        print(
            f"note: --threads {opts.threads} on {cores} cores: threads beyond the cores wait for "
            "each other and train slower, not faster",
            file=sys.stderr,
        )


def say_stopped_early(opts: TrainOptions, steps_done: int, stopped: bool) -> None:
    """The warning both tasks' training give when --minutes cut it short."""
    if stopped and opts.checking_zoom:
        print(
            f"note: a third of --minutes stopped the zoom check's first model after {steps_done} "
            f"of {opts.steps} steps: its range is measured on a weaker model than yours",
            file=sys.stderr,
        )
    elif stopped:
        print(
            f"warning: --minutes stopped training after {steps_done} of {opts.steps} steps: "
            "the model is weaker than a full run (said in its metadata)",
            file=sys.stderr,
        )

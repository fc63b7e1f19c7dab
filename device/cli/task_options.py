"""`train`'s options for the tasks on the areas network (areas, landmarks): checked the same
way, with the task's own default step count."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from device.core.errors import BadInput

if TYPE_CHECKING:  # torch: only where a task trains
    from export.train_options import TrainOptions


def task_options(a: argparse.Namespace, default_steps: int, what: str) -> TrainOptions:
    from export.train_options import TrainOptions

    if a.object_size is not None or a.object_px is not None:
        raise BadInput(f"--object-size/--object-px: for counting folders; {what} take --scale")
    if a.scale is not None and not 0.05 <= a.scale <= 4.0:
        raise BadInput(f"--scale {a.scale}: must be 0.05 to 4")
    return TrainOptions(
        steps=a.steps if a.steps is not None else default_steps,
        minutes=a.minutes,
        budget_gmac=a.budget_gmac,
        width=a.width,
        threads=a.threads,
        name=a.name,
        device=a.device,
        seed=a.seed,
        zoom_range=False,
    )

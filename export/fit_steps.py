"""What every training loop here does each step, the same way (counting: export/fit.py; areas:
export/area_fit.py): the learning rate's warm-up and cosine decay, and the averaged weights
(EMA) that are exported."""

from __future__ import annotations

import math

import torch
from torch import nn

WARMUP_STEPS = 100


def cosine_lr(step: int, steps: int, base: float) -> float:
    """A linear warm-up over the first steps, then a cosine from `base` to 0 at `steps`."""
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    return base * warm * 0.5 * (1 + math.cos(math.pi * step / steps))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def update_ema(ema: nn.Module, net: nn.Module, step: int) -> None:
    """Fold the network's weights into their running average (buffers are copied)."""
    decay = min(0.995, (1 + step) / (10 + step))
    with torch.no_grad():
        for pe, pn in zip(ema.state_dict().values(), net.state_dict().values(), strict=True):
            if pe.dtype.is_floating_point:
                pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
            else:
                pe.copy_(pn)

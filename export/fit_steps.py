"""What every training loop here does each step, the same way (counting: export/fit.py; areas:
export/area_fit.py): the learning rate's warm-up and cosine decay, and the averaged weights
(EMA) that are exported."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

WARMUP_STEPS = 100


def seeded(seed: int, threads: int) -> np.random.Generator:
    """Set up a deterministic run (torch's seed, thread count, deterministic algorithms) and
    return its one random stream: the same folder, seed and settings give the same model."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return np.random.default_rng(seed)


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


@dataclass
class Stepped:
    ema: nn.Module  # the averaged weights, in eval mode, on the CPU: what is exported
    steps: int
    stopped_early: bool
    curve: list[tuple[int, float, float]]  # step, seconds, smoothed loss


def run_steps(
    net: nn.Module,
    steps: int,
    lr: float,
    step_loss: Callable[[], torch.Tensor],
    max_seconds: float | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Stepped:
    """AdamW over `steps` steps of `step_loss()` (one batch's loss each), with the schedule
    and the weight average above; stopped early only by `max_seconds`."""
    ema = copy.deepcopy(net)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    start = time.monotonic()
    curve: list[tuple[int, float, float]] = []
    step, run_loss, stopped = 0, None, False
    while step < steps:
        if max_seconds is not None and time.monotonic() - start >= max_seconds:
            stopped = True
            break
        set_lr(opt, cosine_lr(step, steps, lr))
        loss = step_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        update_ema(ema, net, step)
        lv = loss.item()
        run_loss = lv if run_loss is None else 0.98 * run_loss + 0.02 * lv
        step += 1
        if step % 20 == 0:
            curve.append((step, time.monotonic() - start, run_loss))
            if progress:
                progress(step / steps, f"step {step}/{steps} loss {run_loss:.4f}")
    ema.eval()
    return Stepped(ema.cpu(), step, stopped, curve)

"""How OpenMP's waiting threads wait, chosen from how busy the machine is (see __init__.py)."""

from __future__ import annotations

import importlib.abc
import os
import sys
import time
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

# Spins before a waiting thread sleeps on a quiet machine: libgomp's default of 300000 held a
# core for milliseconds; 5000 kept quiet training within 6% of it (600 steps of mosquito-eggs:
# 31.7 s against 30.0 s) where sleeping at once took 55.3 s.
QUIET_SPINS = "5000"
# Other programs keeping this much of a core busy make spinning costly (beside one busy
# program 600 steps took over 400 s with libgomp's default, 96.6 s with 5000 spins, 67.7 s
# sleeping at once).
BUSY_CORES = 0.5


def choose_wait(busy_cores: float | None) -> dict[str, str]:
    """The environment for libgomp: sleep at once where others are busy, else spin briefly."""
    if busy_cores is not None and busy_cores >= BUSY_CORES:
        return {"OMP_WAIT_POLICY": "PASSIVE"}
    return {"GOMP_SPINCOUNT": QUIET_SPINS}


def _cpu_times(stat: Path) -> tuple[int, int] | None:
    """(idle, total) jiffies of all cores from /proc/stat's first line."""
    try:
        fields = stat.read_text().split("\n", 1)[0].split()
        ticks = [int(v) for v in fields[1:9]]
    except (OSError, ValueError):
        return None
    if len(ticks) < 5:  # not the cpu line Linux writes
        return None
    return ticks[3] + ticks[4], sum(ticks)  # idle + iowait


def cores_busy_elsewhere(
    seconds: float = 0.25, stat: Path = Path("/proc/stat"), cores: int | None = None
) -> float | None:
    """How many cores other programs keep busy now (this process sleeps while it looks);
    None where /proc/stat cannot tell (not Linux)."""
    first = _cpu_times(stat)
    time.sleep(seconds)
    second = _cpu_times(stat)
    if first is None or second is None or second[1] <= first[1]:
        return None
    idle = (second[0] - first[0]) / (second[1] - first[1])
    return (1.0 - idle) * (cores or os.cpu_count() or 1)


class _BeforeTorch(importlib.abc.MetaPathFinder):
    """Sets the way to wait at the first `import torch`, then steps aside (finds nothing)."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "torch":
            _remove(self)
            if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
                os.environ.update(choose_wait(cores_busy_elsewhere()))
        return None


def _remove(finder: importlib.abc.MetaPathFinder) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)


def choose_wait_before_torch_loads() -> None:
    """Look at the machine when torch is first imported; at once nothing is spent. Where torch is
    already loaded its libgomp has read the environment and nothing can change it."""
    if "torch" in sys.modules or any(isinstance(f, _BeforeTorch) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _BeforeTorch())

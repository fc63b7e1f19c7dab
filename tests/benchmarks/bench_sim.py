"""The bench in --sim: press-to-recorded time and resident memory of the running process.

    python -m tests.benchmarks.bench_sim [--presses 40] [--model FILE]

Each press is a SIGUSR1 to a headless bench; the time runs until its `recorded` line arrives.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(presses: int, model: str | None) -> dict:
    exe = Path(sys.executable).with_name("scopecount")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            str(exe),
            "run",
            "--sim",
            "--headless",
            "--storage",
            f"{tmp}/rec",
            "--local-storage",
            "--spool",
            f"{tmp}/spool",
        ]
        if model:
            cmd += ["--model", model]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            ready = json.loads(proc.stdout.readline())
            assert ready["event"] == "ready", ready
            times, inner, peak = [], [], 0.0
            for _ in range(presses):
                t0 = time.perf_counter()
                proc.send_signal(signal.SIGUSR1)
                while True:
                    ev = json.loads(proc.stdout.readline())
                    if ev["event"] in ("recorded", "error"):
                        break
                times.append((time.perf_counter() - t0) * 1000)
                inner.append(ev.get("ms", {}).get("total", float("nan")))
                peak = max(peak, rss_mb(proc.pid))
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    return {
        "presses": presses,
        "model": ready["model"],
        "median_ms": statistics.median(times),
        "p95_ms": float(np.percentile(times, 95)),
        "bench_median_ms": statistics.median(inner),
        "rss_mb": peak,
    }


def table(r: dict) -> str:
    return (
        "| presses | model | press-to-recorded median | p95 | inside the bench (median) "
        "| resident memory |\n|---|---|---|---|---|---|\n"
        f"| {r['presses']} | {r['model']} | {r['median_ms']:.0f} ms | {r['p95_ms']:.0f} ms | "
        f"{r['bench_median_ms']:.0f} ms | {r['rss_mb']:.0f} MB |"
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presses", type=int, default=40)
    ap.add_argument("--model")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    r = measure(a.presses, a.model)
    print(table(r))
    return r


if __name__ == "__main__":
    main()

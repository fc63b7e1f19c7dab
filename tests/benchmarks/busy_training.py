"""Training beside busy programs: `scopecount train` alone, beside one and beside two processes
that spin (`python -c "while True: pass"`), with OpenMP's waiting threads spinning (libgomp's
default, as before), sleeping at once, and as `train` now chooses at start (short spins when
the machine is quiet, sleeping when other programs keep a core busy). Prints a table and
checks that the counts of the models are identical in every run (the thread count is fixed).

    python -m tests.benchmarks.busy_training [--folder DIR] [--steps 300]

Run it on an otherwise quiet machine: the ratios are what it reports, measured in one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCOPECOUNT = Path(sys.executable).with_name("scopecount")
SPIN = [sys.executable, "-c", "while True: pass"]
# libgomp's own default: spin 300000 times, then sleep (its documented GOMP_SPINCOUNT without
# OMP_WAIT_POLICY; with no more threads than cores it is never throttled). Naming it keeps
# `train` from choosing for this arm. "now": what `train` chooses at start (export/omp_wait.py).
ARMS = {
    "libgomp default (spin 300000)": {"GOMP_SPINCOUNT": "300000"},
    "sleeping at once (PASSIVE)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "now: chosen at start": {},
}


def one_run(folder: Path, steps: int, busy: int, env: dict[str, str], out: Path) -> float:
    spinners = [subprocess.Popen(SPIN) for _ in range(busy)]
    try:
        t0 = time.monotonic()
        subprocess.run(
            [
                str(SCOPECOUNT),
                "train",
                str(folder),
                "--out",
                str(out),
                "--steps",
                str(steps),
                "--no-zoom-range",
            ],  # fmt: skip
            env=os.environ | env,
            check=True,
            capture_output=True,
        )
        return time.monotonic() - t0
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def counts_digest(model: Path, folder: Path) -> str:
    images = sorted(str(p) for p in (folder / "images").iterdir())
    out = subprocess.run(
        [str(SCOPECOUNT), "count", *images, "--model", str(model), "--json"],
        check=True,
        capture_output=True,
    ).stdout
    # the counts and points of every image (not the timings, not the model's path)
    kept = [(r["image"], r["counts"], r["points"]) for r in map(json.loads, out.splitlines())]
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    text, same = report(argv)
    print(text)
    return 0 if same else 1


def report(argv: list[str] | None = None) -> tuple[str, bool]:
    """The table as text, and whether the counts were identical in every run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, default=REPO.parent / "shared/data/mosquito-eggs")
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args(argv)
    if not (a.folder / "images").is_dir():
        return f"busy_training: {a.folder}: no training folder here; nothing measured", True
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    os.environ.clear()
    os.environ.update(env)
    rows, digests = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for arm, arm_env in ARMS.items():
            quiet = None
            for busy in (0, 1, 2):
                model = Path(tmp) / f"m-{len(rows)}.onnx"
                secs = one_run(a.folder, a.steps, busy, arm_env, model)
                quiet = quiet or secs
                digest = counts_digest(model, a.folder)
                digests.add(digest)
                rows.append((arm, busy, secs, secs / quiet, digest))
                print(f"{arm}, {busy} busy: {secs:.1f} s", file=sys.stderr, flush=True)
    out = [
        f"`scopecount train {a.folder.name} --steps {a.steps} --no-zoom-range` on "
        f"{os.cpu_count()} cores:",
        "",
        "| OpenMP threads waiting | busy processes | seconds | x quiet | counts digest |",
        "|---|---|---|---|---|",
    ]
    out += [f"| {arm} | {b} | {t:.1f} | {r:.2f} | {d} |" for arm, b, t, r, d in rows]
    same = len(digests) == 1
    out += ["", f"Counts identical in all {len(rows)} runs: {'yes' if same else 'NO'}."]
    return "\n".join(out), same


if __name__ == "__main__":
    sys.exit(main())

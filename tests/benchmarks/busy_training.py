"""Training beside busy programs: `scopecount train` alone, beside one and beside two processes
that spin (`python -c "while True: pass"`). Two threads waiting as libgomp does by default
(spinning), sleeping at once, and as `train` chooses at start (short spins when the machine is
quiet, sleeping when other programs keep a core busy); then one thread, `train`'s default.
Prints a table and checks that the models of one thread count are identical in every run
(their outputs on the folder's images, timings aside).

    python -m tests.benchmarks.busy_training [--folder DIR] [--steps 300] [--arms 0,1,2,3]

Run it on an otherwise quiet machine: the ratios are what it reports, measured in one run.
Any training folder works (counts, areas or landmarks); where `train` refuses an int8 model
the float one it keeps is compared.
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
# None: `train`'s default thread count, whatever it is.
ARMS: list[tuple[str, int | None, dict[str, str]]] = [
    ("libgomp default (spin 300000)", 2, {"GOMP_SPINCOUNT": "300000"}),
    ("sleeping at once (PASSIVE)", 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("chosen at start", 2, {}),
    ("the default now (`train` as it comes)", None, {}),
]
DEFAULT_THREADS = 1  # what `train` uses without --threads, for the table
# What a model's outputs depend on; the rest (timings, the file's path and digest) do not.
KEPT = ("counts", "points", "areas", "pixels", "landmarks", "centroid_size", "mirrored", "flags")


def one_run(
    folder: Path, steps: int, busy: int, threads: int | None, env: dict[str, str], out: Path
) -> float:
    args = [str(SCOPECOUNT), "train", str(folder), "--out", str(out), "--steps", str(steps)]
    args += ["--no-zoom-range"] + ([] if threads is None else ["--threads", str(threads)])
    spinners = [subprocess.Popen(SPIN) for _ in range(busy)]
    try:
        t0 = time.monotonic()
        # exit 1: a model refused int8 or learnt little in a short run; its float file is kept
        done = subprocess.run(args, env=os.environ | env, capture_output=True, text=True)
        secs = time.monotonic() - t0
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    if done.returncode not in (0, 1) or not kept_model(out).is_file():
        raise SystemExit(f"busy_training: train failed: {done.stderr.strip()[-500:]}")
    return secs


def kept_model(out: Path) -> Path:
    return out if out.is_file() else out.with_suffix(".float.onnx")


def outputs_digest(model: Path, folder: Path) -> str:
    images = sorted(str(p) for p in (folder / "images").iterdir())
    out = subprocess.run(
        [str(SCOPECOUNT), "count", *images, "--model", str(model), "--json"],
        check=True,
        capture_output=True,
    ).stdout
    kept = [
        [Path(r["image"]).name] + [r.get(k) for k in KEPT]
        for r in map(json.loads, out.splitlines())
    ]
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
    ap.add_argument(
        "--arms", default=",".join(map(str, range(len(ARMS)))), help="which rows, by number"
    )
    a = ap.parse_args(argv)
    picked = a.arms.split(",")
    if not all(i.isascii() and i.isdigit() and int(i) < len(ARMS) for i in picked):
        ap.error(f"--arms {a.arms!r}: numbers from 0 to {len(ARMS) - 1}, comma-separated")
    arms = [ARMS[int(i)] for i in dict.fromkeys(picked)]
    if not (a.folder / "images").is_dir():
        return f"busy_training: {a.folder}: no training folder here; nothing measured", True
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    os.environ.clear()
    os.environ.update(env)
    rows, digests = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm, threads, arm_env in arms:
            quiet = None
            n = threads or DEFAULT_THREADS
            for busy in (0, 1, 2):
                model = Path(tmp) / f"m-{len(rows)}.onnx"
                secs = one_run(a.folder, a.steps, busy, threads, arm_env, model)
                quiet = quiet or secs
                digest = outputs_digest(kept_model(model), a.folder)
                digests.setdefault(n, set()).add(digest)
                rows.append((n, arm, busy, secs, secs / quiet, digest))
                print(f"{n} thread(s), {arm}, {busy} busy: {secs:.1f} s", file=sys.stderr)
    out = [
        f"`scopecount train {a.folder.name} --steps {a.steps} --no-zoom-range` on "
        f"{os.cpu_count()} cores:",
        "",
        "| threads | OpenMP threads waiting | busy processes | seconds | x quiet "
        "| outputs digest |",
        "|---|---|---|---|---|---|",
    ]
    out += [f"| {n} | {arm} | {b} | {t:.1f} | {r:.2f} | {d} |" for n, arm, b, t, r, d in rows]
    same = all(len(d) == 1 for d in digests.values())
    out += [
        "",
        f"Outputs identical in every run of one thread count ({len(rows)} runs): "
        f"{'yes' if same else 'NO'}.",
    ]
    return "\n".join(out), same


if __name__ == "__main__":
    sys.exit(main())

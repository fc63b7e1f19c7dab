"""The smoke run of a model being installed: in a child process with hard limits.

A model is bytes from elsewhere; its first run must not be able to hang or starve the bench.
The child loads the model (onnxruntime session, warm-up) and counts a generated camera-sized
frame. Its time limit is a kernel interval timer whose default action ends the process, so it
holds while onnxruntime is deep in native code; the parent also kills it (by its pid) when it
overruns a wider limit, which covers a child stuck before the timer is set. The child's address
space is capped so that a model that asks for huge tensors fails there, not in the OOM killer.

Run as `python -I -m device.models.smoke WHERE BUDGET_S` with the model's bytes on standard
input: one JSON line on stdout when the model passed; exit 2 and one line on stderr when it did not.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time

from device.core.errors import BadInput

STARTUP_S = 60.0  # imports before the timer starts (slow on a busy Pi); not the model's time
MEMORY_BYTES = 3 << 30  # address space of the child: python + onnxruntime need ~0.5 GiB
MEMORY_PER_MODEL_BYTE = 4  # and a model's weights a few times over (copies while loading)
FRAME_HW = (480, 640)


def smoke_run(data: bytes, where: str, budget_s: float) -> dict:
    """Run the model once in a child; BadInput (one line, naming `where`) unless it passed.

    Returns {"name", "classes", "ms"} from the child.
    """
    cmd = [sys.executable, "-I", "-m", "device.models.smoke", where, repr(float(budget_s))]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    t = time.monotonic()
    try:
        out, err = proc.communicate(data, timeout=STARTUP_S + budget_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BadInput(
            f"refused {where}: smoke inference did not finish within "
            f"{time.monotonic() - t:.0f} s (stopped)"
        ) from None
    rc = proc.returncode
    if rc == -signal.SIGALRM:
        raise BadInput(
            f"refused {where}: smoke inference did not finish within its budget of "
            f"{budget_s:g} s (stopped; [model] smoke_budget_s)"
        )
    lines = err.decode("utf-8", "replace").strip().splitlines()
    if rc == 2 and lines:
        raise BadInput(f"refused: {lines[-1][:300]}")
    if rc != 0:
        why = signal.Signals(-rc).name if rc < 0 else f"exit {rc}"
        raise BadInput(f"refused {where}: smoke inference crashed ({why})")
    try:
        res = json.loads(out)
    except ValueError:
        raise BadInput(f"refused {where}: smoke inference gave no result") from None
    if not res.get("finite"):
        raise BadInput(f"refused {where}: smoke inference gave non-finite counts")
    return res


def _child(where: str, budget_s: float) -> int:
    import numpy as np

    from device.core.errors import ModelError
    from device.measuring.detector import open_detector

    data = sys.stdin.buffer.read()
    cap = MEMORY_BYTES + MEMORY_PER_MODEL_BYTE * len(data)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # SIGALRM keeps its default action (end the process): nothing in here can catch it.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, budget_s)
    t = time.perf_counter()
    try:
        counter = open_detector(data, where, threads=1)
        frame = np.random.default_rng(0).integers(0, 255, (*FRAME_HW, 3), dtype=np.uint8)
        res = counter.measure(frame)
    except ModelError as e:
        print(str(e), file=sys.stderr)
        return 2
    except Exception as e:  # onnxruntime raises many types; MemoryError for the address cap
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"{where}: smoke inference failed ({first[:160]})", file=sys.stderr)
        return 2
    signal.setitimer(signal.ITIMER_REAL, 0)
    finite = all(bool(np.isfinite(v)) for v in res.sums.values())
    ms = (time.perf_counter() - t) * 1000
    print(
        json.dumps(
            {"name": counter.name, "classes": counter.info.classes, "ms": ms, "finite": finite}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], float(sys.argv[2])))

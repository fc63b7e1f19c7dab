"""The workstation side: training folders, training, ONNX export, int8, evaluation."""

import os

# Training shares a laptop with a browser, a sync client, a video call. OpenMP threads that
# wait at a barrier by spinning hold a core the lagging thread needs, so one busy program
# slowed training threefold (`tests/benchmarks/busy_training.py`); sleeping waiters give it
# back. Set before torch loads libgomp; the thread count (and so every sum's order) is unchanged.
# A policy or spin count the user set is kept.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

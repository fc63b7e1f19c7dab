"""The workstation side: training folders, training, ONNX export, int8, evaluation."""

from export.omp_wait import choose_wait_before_torch_loads

# Training shares a laptop with a browser, a sync client, a video call. OpenMP threads that
# wait at a barrier by spinning hold a core the lagging thread needs: beside one busy program
# training ran 3 to 13 times slower (`tests/benchmarks/busy_training.py`). Sleeping waiters give
# the core back but cost a quiet machine almost twice the time (many small parallel regions per
# step), so the way to wait is chosen just before torch loads libgomp (which reads it once):
# short spins on a quiet machine, sleeping when other programs keep a core busy. The thread
# count (and so every sum's order, and the model) is the same either way. A policy or spin
# count the user set is kept. Work that never loads torch (import, annotate, evaluate) does not
# pay the quarter second the look takes.
choose_wait_before_torch_loads()

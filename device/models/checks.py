"""Every check a model file passes before the store takes it: sizes, signature, structure and
metadata (parsed, never run), then a smoke run in a child with a hard time limit."""

from __future__ import annotations

from dataclasses import dataclass

from device.core.errors import BadInput, ModelError
from device.measuring.modelfile import check_metadata
from device.measuring.onnx_scan import scan
from device.models.smoke import smoke_run
from device.models.store_records import training_figures

MAX_BYTES = 32 * 1024 * 1024
SMOKE_BUDGET_S = 10.0


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    smoke_budget_s: float = SMOKE_BUDGET_S
    keep: int = 3  # previous models kept for rollback (at least 1 is always kept)
    min_free_bytes: int = 64 * 1024 * 1024


def check_model(
    data: bytes,
    where: str,
    limits: Limits,
    signature: str | None = None,
    trusted: list | None = None,
) -> dict:
    """Every check before anything changes; BadInput says why in one line.

    The order matters: sizes, then the signature (on the bytes alone), then the structure and
    metadata (parsed, never run), and only then a smoke run in a child with a hard time limit.
    Returns the smoke run's {"name", "classes", "ms"} and the training figures in the file.
    """
    if not data:
        raise BadInput(f"refused {where}: empty file")
    if len(data) > limits.max_bytes:
        raise BadInput(
            f"refused {where}: {len(data)} bytes is over the {limits.max_bytes} byte limit"
        )
    if trusted:
        from device.models.signing import verify

        verify(data, signature, trusted, where)
    try:
        checked = check_metadata(scan(data, where), where)
    except ModelError as e:
        raise BadInput(f"refused: {e}") from None
    return smoke_run(data, where, limits.smoke_budget_s) | training_figures(checked)

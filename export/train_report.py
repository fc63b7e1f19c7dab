"""What `train` reports: the figures `scopecount train` prints, also written as
MODEL.report.json beside the model (the field order is the file's key order)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

# Known only later (the refusal, or once the int8 model is written): left out of the file until
# they are, as they always were.
LATE_KEYS = ("int8_refused", "removed_signatures", "int8_bytes", "float_bytes", "zoom_range")


def sidecar(out: Path, suffix: str) -> Path:
    """A file beside the model: m.onnx -> m.float.onnx, m.report.json, m.curve.png."""
    return out.with_name(out.stem + suffix)


def write_set_fields(report: Any, out: Path) -> None:
    """MODEL.report.json of a task report: its fields in order, those still None left out."""
    d = {k: v for k, v in asdict(report).items() if v is not None}
    sidecar(out, ".report.json").write_text(json.dumps(d, indent=1) + "\n")


@dataclass(frozen=True)
class TrainReport:
    model: str | None  # the int8 model; None where int8 was refused (nothing is left at --out)
    float_model: str
    object_size_px: float
    input_scale: float
    count_scale: float  # the float model's
    count_scale_int8: float
    train_mae: float
    train_rel_error: float  # train_mae over the mean count of the training images
    int8_vs_float: float
    int8_correction: float
    steps: int
    stopped_early: bool
    learnt: bool
    arch: str
    seconds: float
    macs_per_frame: int
    frame: str  # "1280x960"
    curve: list[tuple[int, float, float]]  # step, seconds, loss
    int8_refused: bool | None = None
    removed_signatures: list[str] | None = None  # .sig files of the models this one replaced
    int8_bytes: int | None = None
    float_bytes: int | None = None
    zoom_range: dict[str, Any] | None = None  # export/zoom_range.py: None where not measured

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in LATE_KEYS:
            if d[key] is None:
                del d[key]
        return d

    def write(self, out: Path) -> None:
        """MODEL.report.json beside the model `out`."""
        sidecar(out, ".report.json").write_text(json.dumps(self.as_dict(), indent=1) + "\n")


class Report(Protocol):
    """What both tasks' reports have (TrainReport here, AreasReport in export/area_train.py)."""

    def write(self, out: Path) -> None: ...


R = TypeVar("R", bound=Report)


def finished(report: R, out: Path, float_path: Path, removed: list[Path]) -> R:
    """The report once both models are written: their sizes, the signatures removed."""
    done = replace(
        report,  # type: ignore[type-var]  # both reports are dataclasses with these fields
        removed_signatures=[str(p) for p in removed],
        int8_bytes=out.stat().st_size,
        float_bytes=float_path.stat().st_size,
    )
    done.write(out)
    return done


def refused_report(report: R, out: Path) -> str:
    """int8 refused: no model is left at `out` (an earlier one there would be used silently),
    the report says so. Returns what to add to the message."""
    from device.measuring.modelfile import drop_stale_signature

    gone = ""
    if out.exists():
        drop_stale_signature(out)
        out.unlink()
        gone = f"; the earlier model at {out} was removed"
    replace(report, model=None, int8_refused=True).write(out)  # type: ignore[type-var]
    return gone

"""torch -> float ONNX -> int8 ONNX (onnxruntime static quantization, calibrated) -> metadata."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from device.measuring.modelfile import ModelInfo
from export.net import CountNet, ExportWrapper

OPSET = 17


def export_float(net: CountNet, path: Path) -> None:
    """Write the float counting model with dynamic height and width (any multiple of 16)."""
    export_module(ExportWrapper(net.eval().cpu()), path, "density")


def export_module(net: torch.nn.Module, path: Path, output: str) -> None:
    """Write a float model taking `image` (N, 3, H, W) with free size, giving `output`."""
    net = net.eval().cpu()
    torch.onnx.export(
        net,
        (torch.zeros(1, 3, 128, 128),),
        str(path),
        input_names=["image"],
        output_names=[output],
        dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}, output: {0: "N", 2: "h", 3: "w"}},
        opset_version=OPSET,
        dynamo=False,
    )


class _Reader(CalibrationDataReader):
    def __init__(self, inputs: list[np.ndarray]) -> None:
        self._it: Iterator[np.ndarray] = iter(inputs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {"image": x}


def quantize_int8(
    float_path: Path,
    out_path: Path,
    calibration: list[np.ndarray],
    keep_float: tuple[str, ...] = (),
) -> None:
    """Static int8: per-channel weights, uint8 activations, ranges from the calibration images;
    the nodes whose names start with one of `keep_float` stay float."""
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        names = [n.name for n in onnx.load(str(pre)).graph.node] if keep_float else []
        quantize_static(
            str(pre),
            str(out_path),
            _Reader(calibration),
            quant_format=QuantFormat.QOperator,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=[n for n in names if n.startswith(keep_float)],
        )


def write_metadata(path: Path, info: ModelInfo) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    model.producer_name = "scopecount"
    model.doc_string = info.description
    onnx.save(model, str(path))

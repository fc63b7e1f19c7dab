"""Export and int8 of the areas network (the landmarks task's too): parts asked to stay float
stay float, the rest is int8, and both run."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch

from export.area_net import AreaNet
from export.onnx_export import export_module, quantize_int8


def _ops(path) -> dict[str, str]:
    return {n.name: n.op_type for n in onnx.load(str(path)).graph.node}


def test_keep_float_leaves_the_named_parts_float(tmp_path):
    torch.manual_seed(0)
    net = AreaNet(3, 8).eval()
    fl = tmp_path / "f.onnx"
    export_module(net, fl, "heat")
    rng = np.random.default_rng(0)
    calib = [rng.normal(size=(1, 3, 64, 96)).astype(np.float32) for _ in range(3)]
    quantize_int8(fl, tmp_path / "all.onnx", calib)
    quantize_int8(fl, tmp_path / "mixed.onnx", calib, ("/up", "/head"))
    every, mixed = _ops(tmp_path / "all.onnx"), _ops(tmp_path / "mixed.onnx")
    assert "QLinearConv" in every.values() and "Conv" not in every.values()
    float_convs = [k for k, op in mixed.items() if op == "Conv"]
    assert float_convs and all(k.startswith(("/up", "/head")) for k in float_convs)
    assert any(op == "QLinearConv" and k.startswith("/enc") for k, op in mixed.items())
    x = calib[0]
    ref = ort.InferenceSession(str(fl)).run(None, {"image": x})[0]
    for name in ("all", "mixed"):
        got = ort.InferenceSession(str(tmp_path / f"{name}.onnx")).run(None, {"image": x})[0]
        assert got.shape == ref.shape and np.isfinite(got).all()

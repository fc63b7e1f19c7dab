"""Hostile ONNX files for the store's and the loader's refusals, built with onnx.helper.

Each carries valid scopecount metadata, so that what refuses it is the check under test and not
a missing key.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.support import onnx_fixtures


def _finish(graph: onnx.GraphProto, meta: dict[str, str] | None) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (meta or onnx_fixtures.metadata(["spot"])).items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    return model


def _head() -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """image -> 4x4 average -> 1x1 conv: a density map of the right shape for stride 4."""
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["pooled", "w", "b"], ["d0"]),
    ]
    inits = [
        numpy_helper.from_array(np.full((1, 3, 1, 1), 0.02, np.float32), "w"),
        numpy_helper.from_array(np.zeros((1,), np.float32), "b"),
    ]
    return nodes, inits


def _io() -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    return (
        helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"]),
        helper.make_tensor_value_info("density", TensorProto.FLOAT, ["N", 1, "h", "w"]),
    )


def loop_model(trips: int = 10**15, meta: dict[str, str] | None = None) -> bytes:
    """The density passes through a Loop of `trips` iterations: run, it never returns."""
    nodes, inits = _head()
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Identity", ["v_in"], ["v_out"]),
        ],
        "forever",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None),
        ],
    )
    nodes.append(helper.make_node("Loop", ["trips", "cond", "d0"], ["density"], body=body))
    inits += [
        numpy_helper.from_array(np.array(trips, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "cond"),
    ]
    inp, out = _io()
    return _finish(helper.make_graph(nodes, "loop", [inp], [out], inits), meta).SerializeToString()


def slow_model(convs: int = 400, channels: int = 64) -> bytes:
    """No control flow, just a great deal of arithmetic: `convs` 3x3 convolutions at full size.

    About 1 TMAC on the 256x256 warm-up input: a minute or more on one core, so only a time
    limit stops it.
    """
    conv3 = {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}
    nodes = [helper.make_node("Conv", ["image", "w_in"], ["x0"], **conv3)]
    for i in range(convs):
        nodes.append(helper.make_node("Conv", [f"x{i}", "w_mid"], [f"x{i + 1}"], **conv3))
    nodes += [
        helper.make_node(
            "AveragePool", [f"x{convs}"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]
        ),
        helper.make_node("Conv", ["pooled", "w_out"], ["density"]),
    ]
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(
            rng.normal(0, 0.01, (channels, 3, 3, 3)).astype(np.float32), "w_in"
        ),
        numpy_helper.from_array(
            rng.normal(0, 0.01, (channels, channels, 3, 3)).astype(np.float32), "w_mid"
        ),
        numpy_helper.from_array(np.full((1, channels, 1, 1), 0.01, np.float32), "w_out"),
    ]
    inp, out = _io()
    return _finish(helper.make_graph(nodes, "slow", [inp], [out], inits), None).SerializeToString()


def external_data_model(location: str = "weights.bin") -> tuple[bytes, bytes]:
    """The bright-spot model whose conv weights live in a file beside it: (model, weights)."""
    model = onnx.load_from_string(onnx_fixtures.bright_spot_model())
    w = next(t for t in model.graph.initializer if t.name == "w")
    raw = w.raw_data or numpy_helper.to_array(w).tobytes()
    w.ClearField("float_data")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        e = w.external_data.add()
        e.key, e.value = k, v
    return model.SerializeToString(), raw


def with_metadata(**over: str | None) -> bytes:
    """The bright-spot model with some metadata values replaced (None drops the key)."""
    return onnx_fixtures.bright_spot_model(meta=onnx_fixtures.metadata(["spot"], **over))

"""Small real ONNX models for tests, built with onnx.helper (no training needed).

The 'bright spot' model: density = relu(mean brightness of each 4x4 cell - 0.2) / (0.8 * 16), so
a white 16x16 square on black (16 cells at 1/16 each) is exactly one object, where it stands.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def metadata(classes: list[str], **over: str) -> dict[str, str]:
    meta = {
        "scopecount.format": "1",
        "scopecount.name": "bright-spot",
        "scopecount.classes": json.dumps(classes),
        "scopecount.object_size_px": "8",
        "scopecount.input_scale": "1.0",
        "scopecount.normalization": json.dumps({"mean": [0, 0, 0], "std": [1, 1, 1]}),
        "scopecount.output_stride": "4",
        "scopecount.decode": json.dumps({"count_scale": 1.0, "kernel_sigma": 1.0}),
        "scopecount.training": json.dumps({"images": 0, "objects": 0, "synthetic": True}),
        "scopecount.metrics": json.dumps({}),
    }
    meta.update(over)
    return {k: v for k, v in meta.items() if v is not None}


def bright_spot_model(
    classes: list[str] | None = None,
    out_channels: int | None = None,
    stride: int = 4,
    gain: float = 1.0 / (0.8 * 16),
    meta: dict[str, str] | None = None,
) -> bytes:
    classes = classes or ["spot"]
    c_out = out_channels if out_channels is not None else len(classes)
    w = np.full((c_out, 3, 1, 1), gain / 3.0, np.float32)
    b = np.full((c_out,), -0.2 * gain, np.float32)
    nodes = [
        helper.make_node(
            "AveragePool",
            ["image"],
            ["pooled"],
            kernel_shape=[stride, stride],
            strides=[stride, stride],
        ),
        helper.make_node("Conv", ["pooled", "w", "b"], ["pre"]),
        helper.make_node("Relu", ["pre"], ["density"]),
    ]
    graph = helper.make_graph(
        nodes,
        "bright_spot",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("density", TensorProto.FLOAT, ["N", c_out, "h", "w"])],
        [
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(b, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (meta if meta is not None else metadata(classes)).items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def taught_spot_model(classes: list[str] | None = None) -> onnx.ModelProto:
    """bright_spot_model as a lab's own: trained on real images, learnt (no demo flag)."""
    training = json.dumps({"images": 12, "objects": 340, "synthetic": False})
    meta = metadata(
        classes or ["egg"],
        **{"scopecount.training": training, "scopecount.metrics": json.dumps({"learnt": True})},
    )
    return bright_spot_model(classes, meta=meta)


SURE = 10.0


def colour_areas_model(classes: list[str] | None = None, name: str = "colour-areas") -> bytes:
    """An areas model by colour, per 4x4 cell: background scores 0.3; the first class scores
    R - G - B (pure red: 1), the second G - R - B (pure green: 1), the third B - R - G (all
    times SURE). So a
    frame's red pixels are the first class, its green ones the second, dark ones background."""
    classes = classes or ["red", "green"]
    if not 1 <= len(classes) <= 3:
        raise ValueError("one to three classes")
    w = np.zeros((len(classes) + 1, 3, 1, 1), np.float32)
    b = np.zeros((len(classes) + 1,), np.float32)
    b[0] = 0.3
    for k in range(len(classes)):
        w[k + 1, :, 0, 0] = -1.0
        w[k + 1, k, 0, 0] = 1.0
    # As sure of a pure colour as a trained model (the `uncertain` flag reads the softmax);
    # the class of every cell is unchanged.
    w, b = w * SURE, b * SURE
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["pooled", "w", "b"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "colour_areas",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [
            helper.make_tensor_value_info(
                "scores", TensorProto.FLOAT, ["N", len(classes) + 1, "h", "w"]
            )
        ],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    training = json.dumps({"images": 6, "synthetic": False})
    meta = metadata(
        classes,
        **{
            "scopecount.name": name,
            "scopecount.task": "areas",
            "scopecount.training": training,
            "scopecount.metrics": json.dumps({"learnt": True}),
        },
    )
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    return model.SerializeToString()


def colour_image(
    shape: tuple[int, int],
    red: tuple[int, int, int, int] | None = None,
    green: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """A black frame with a pure red and a pure green rectangle (x, y, w, h)."""
    img = np.zeros((*shape, 3), np.uint8)
    for rect, ch in ((red, 0), (green, 1)):
        if rect is not None:
            x, y, w, h = rect
            img[y : y + h, x : x + w, ch] = 255
    return img


LANDMARK_DOTS = [(16, 8), (40, 36), (8, 48)]  # where landmark_image puts its 4x4 dots (x, y)


def colour_landmarks_model(
    names: list[str] | None = None,
    shape: list[tuple[float, float]] | None = None,
    views: int = 1,
    metrics: dict | None = None,
) -> bytes:
    """A landmarks model by colour, per 4x4 cell: landmark 1 is where the frame is red, 2 green,
    3 blue (heat = that channel minus the other two). Its taught mean shape is the triangle of
    LANDMARK_DOTS' centres unless `shape` is given; it reads `views` flipped copies; `metrics`
    are what `train` measured (default: learnt, nothing else)."""
    from device.measuring.landmark_meter import META_KEY, params_to_meta
    from device.measuring.landmarks import LandmarkParams
    from device.measuring.shapes import centroid_size

    names = names or ["humeral", "L3 tip", "L5 tip"]
    pts = np.array(shape or [(x + 1.5, y + 1.5) for x, y in LANDMARK_DOTS], np.float64)
    pts = pts - pts.mean(axis=0)
    mean = pts / centroid_size(pts)
    w = np.full((3, 3, 1, 1), -1.0, np.float32)
    for k in range(3):
        w[k, k, 0, 0] = 1.0
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["pooled", "w"], ["heat"]),
    ]
    graph = helper.make_graph(
        nodes,
        "colour_landmarks",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("heat", TensorProto.FLOAT, ["N", 3, "h", "w"])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    params = LandmarkParams(mean, max_distance=0.1, unsure_below=0.5, absent_below=0.1, views=views)
    meta = metadata(
        names,
        **{
            "scopecount.name": "colour-landmarks",
            "scopecount.task": "landmarks",
            "scopecount.training": json.dumps({"images": 6, "synthetic": False}),
            "scopecount.metrics": json.dumps(metrics or {"learnt": True}),
            META_KEY: params_to_meta(params),
        },
    )
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    return model.SerializeToString()


def landmark_image(
    shape: tuple[int, int] = (64, 64),
    dots: list[tuple[int, int] | None] | None = None,
    grey: int = 0,
) -> np.ndarray:
    """A frame of `grey` with a 4x4 pure red, green and blue dot (top-left corners), None left
    out. Grey scores below zero everywhere (each channel minus the other two)."""
    img = np.full((*shape, 3), grey, np.uint8)
    for k, d in enumerate(dots if dots is not None else LANDMARK_DOTS):
        if d is not None:
            x, y = d
            img[y : y + 4, x : x + 4] = 0
            img[y : y + 4, x : x + 4, k] = 255
    return img

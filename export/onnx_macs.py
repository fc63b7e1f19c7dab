"""Convolution MACs of an ONNX model for one camera frame, counted from the graph itself.

The bench's cost is what the file computes, whatever `train` printed: the frame is resized by
the model's own `input_scale` and padded to a multiple of 16, shapes are inferred through the
graph, and every Conv (float) or QLinearConv / ConvInteger (int8) adds
output elements x kernel area x input channels per group.
"""

from __future__ import annotations

from pathlib import Path

import onnx

CONV_OPS = {"Conv": (1, 0), "QLinearConv": (3, 0), "ConvInteger": (1, 0)}


def frame_input_hw(model: onnx.ModelProto, frame_hw: tuple[int, int]) -> tuple[int, int]:
    meta = {p.key: p.value for p in model.metadata_props}
    scale = float(meta.get("scopecount.input_scale", "1"))
    h, w = (max(1, round(v * scale)) for v in frame_hw)
    return -(-h // 16) * 16, -(-w // 16) * 16


def conv_macs(path: str | Path, frame_hw: tuple[int, int] = (960, 1280)) -> int:
    """Runs the model once on a zero frame (onnxruntime) with every convolution's output
    exposed, so shapes are real even through int8 operators that shape inference skips."""
    import numpy as np
    import onnxruntime as ort

    model = onnx.load(str(path))
    h, w = frame_input_hw(model, frame_hw)
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type in CONV_OPS]
    have = {o.name for o in model.graph.output}
    for n in convs:
        if n.output[0] not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(n.output[0]))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, ["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    zero = np.zeros((1, 3, h, w), np.float32)
    outs = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: zero}), strict=True))
    total = 0
    for n in convs:
        w_idx, _ = CONV_OPS[n.op_type]
        k = inits.get(n.input[w_idx])
        if not k:
            raise ValueError(f"{path}: weights of {n.name or n.op_type} are not an initializer")
        # Weight [out_ch, in_ch / groups, kh, kw]: each output element costs in/groups * kh * kw.
        total += int(outs[n.output[0]].size) * k[1] * k[2] * k[3]
    return total

"""The report `train` writes beside the model: the keys known at each step, in one order."""

import json
from dataclasses import replace

from export.train_report import TrainReport


def report() -> TrainReport:
    return TrainReport(
        model="m.onnx",
        float_model="m.float.onnx",
        object_size_px=12.5,
        input_scale=1.25,
        count_scale=1.1,
        count_scale_int8=1.12,
        train_mae=0.5,
        train_rel_error=0.05,
        int8_vs_float=0.001,
        int8_correction=1.02,
        steps=40,
        stopped_early=False,
        learnt=True,
        arch="lite",
        seconds=3.5,
        macs_per_frame=2_000_000,
        frame="1280x960",
        curve=[(20, 1.0, 0.5)],
    )


def test_the_file_holds_only_what_is_known_and_ends_with_what_came_last(tmp_path):
    first = report()
    first.write(tmp_path / "m.onnx")
    written = json.loads((tmp_path / "m.report.json").read_text())
    assert list(written)[0] == "model" and list(written)[-1] == "curve"
    assert written["curve"] == [[20, 1.0, 0.5]]

    refused = replace(first, model=None, int8_refused=True).as_dict()
    assert refused["model"] is None and list(refused)[-2:] == ["curve", "int8_refused"]

    done = replace(first, removed_signatures=[], int8_bytes=10, float_bytes=20).as_dict()
    assert list(done)[-4:] == ["curve", "removed_signatures", "int8_bytes", "float_bytes"]
    assert done["removed_signatures"] == [] and "int8_refused" not in done

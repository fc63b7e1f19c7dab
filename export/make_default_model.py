"""`make models`: rebuild the shipped default model from synthetic demo vials.

    python -m export.make_default_model [--steps 4000] [--images 32]

Trains on synthetic vials (seeds 1xxx), evaluates on other synthetic vials (seeds 9xxx) that it
never saw, writes the figures into the model's metadata and models/drosophila-eggs-demo.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from device.core.paths import DEFAULT_MODEL_NAME, MODELS_DIR
from device.hardware.synthetic import HELD_OUT_SEED, TRAIN_SEED, write_demo_folder
from device.measuring.counter import Counter
from export.evaluate import evaluate_model
from export.folder import read_folder
from export.onnx_export import write_metadata
from export.train import TrainOptions, train

DESCRIPTION = (
    "Demo model: counts Drosophila eggs on fly food in a vial. Trained ONLY on synthetic images "
    "made by device/hardware/synthetic.py, not on photographs: labs teach the bench their own "
    "vials (scopecount train) before trusting its counts."
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--out", type=Path, default=MODELS_DIR / DEFAULT_MODEL_NAME)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        train_dir, test_dir = Path(tmp) / "train", Path(tmp) / "test"
        write_demo_folder(train_dir, a.images, seed=TRAIN_SEED)
        write_demo_folder(test_dir, 8, seed=HELD_OUT_SEED)
        # Eggs in the demo frame are about 27 px across; showing them to the network at half
        # size keeps a 1280x960 frame under 1 GMAC.
        opts = TrainOptions(
            steps=a.steps,
            object_px=13.0,
            arch="unet",
            width=12,
            name="drosophila-eggs-demo",
            description=DESCRIPTION,
            synthetic=True,
        )
        out_tmp = Path(tmp) / a.out.name
        report = train(train_dir, out_tmp, opts)
        held_out = evaluate_model(Counter.from_file(out_tmp), read_folder(test_dir))
        figures = {k: round(held_out[k], 4) for k in ("mae", "mre", "bias", "f1")}
        figures["images"] = held_out["images"]
        for path in (out_tmp, Path(report.float_model)):
            c = Counter.from_file(path)
            info = c.info
            info.metrics |= {"synthetic_held_out": figures}
            write_metadata(path, info)
        a.out.write_bytes(out_tmp.read_bytes())
        # The float twin ships too: the benchmark compares int8 with float on the same weights.
        a.out.with_name(a.out.stem + ".float.onnx").write_bytes(
            Path(report.float_model).read_bytes()
        )
        rep = report.as_dict() | {
            "held_out_synthetic": figures,
            "int8_bytes": a.out.stat().st_size,
        }
        rep.pop("curve", None)
        notes = MODELS_DIR / "drosophila-eggs-demo.md"
        notes.write_text(
            "# drosophila-eggs-demo.onnx\n\n"
            f"{DESCRIPTION}\n\nMade by `make models` (python -m export.make_default_model): "
            f"{a.images} synthetic 1280x960 vials (seed 1) for training, 8 others (seed 9) "
            "held out.\n\n```json\n" + json.dumps(rep, indent=1) + "\n```\n"
        )
        print(json.dumps(rep, indent=1))


if __name__ == "__main__":
    main()

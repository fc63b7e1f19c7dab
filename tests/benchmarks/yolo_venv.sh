#!/usr/bin/env bash
# The throwaway venv for the YOLO11n speed comparison (never the project's own dependencies).
set -euo pipefail
venv="${1:?usage: yolo_venv.sh DIR}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
"$venv/bin/pip" install -q ultralytics onnx onnxruntime

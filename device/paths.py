"""Where the project keeps things it ships (the default model, the demo images)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
DEFAULT_MODEL_NAME = "drosophila-eggs-demo.onnx"


def default_model() -> Path:
    """The shipped default model; SCOPECOUNT_DEFAULT_MODEL overrides it for installs elsewhere."""
    env = os.environ.get("SCOPECOUNT_DEFAULT_MODEL")
    return Path(env) if env else MODELS_DIR / DEFAULT_MODEL_NAME


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scopecount"

"""Where the project keeps things it ships (the default model, the demo images)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
DEFAULT_MODEL_NAME = "drosophila-eggs-demo.onnx"


INSTALLED_MODELS_DIR = Path("/opt/scopecount/models")  # where systemd/install.sh puts them


def default_model() -> Path:
    """The shipped default model: $SCOPECOUNT_DEFAULT_MODEL, else the source tree's models/
    (editable installs, `make run`), else the bench install's copy."""
    env = os.environ.get("SCOPECOUNT_DEFAULT_MODEL")
    if env:
        return Path(env)
    here = MODELS_DIR / DEFAULT_MODEL_NAME
    installed = INSTALLED_MODELS_DIR / DEFAULT_MODEL_NAME
    return installed if not here.exists() and installed.exists() else here


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scopecount"

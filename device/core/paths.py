"""Where the project keeps things it ships (the default model, the demo images)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
DEFAULT_MODEL_NAME = "drosophila-eggs-demo.onnx"


INSTALLED_MODELS_DIR = Path("/opt/scopecount/models")  # where systemd/install.sh puts them


def shipped_models_dir() -> Path:
    """Where the installed package keeps models/ (package `scopecount_models`: site-packages for
    `pip install .`, the source tree for editable installs); the source tree when not installed."""
    try:
        from importlib.resources import files

        d = Path(str(files("scopecount_models")))
    except (ImportError, TypeError):
        return MODELS_DIR
    return d if (d / DEFAULT_MODEL_NAME).is_file() else MODELS_DIR


def default_model() -> Path:
    """The shipped default model: $SCOPECOUNT_DEFAULT_MODEL, else the installed package's copy,
    else the bench install's copy under /opt."""
    env = os.environ.get("SCOPECOUNT_DEFAULT_MODEL")
    if env:
        return Path(env)
    here = shipped_models_dir() / DEFAULT_MODEL_NAME
    installed = INSTALLED_MODELS_DIR / DEFAULT_MODEL_NAME
    return installed if not here.exists() and installed.exists() else here


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scopecount"

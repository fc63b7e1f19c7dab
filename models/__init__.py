"""The shipped models, installed as the package `scopecount_models` (see pyproject.toml) so that
every install carries them: device.core.paths.default_model() finds them through importlib.resources."""

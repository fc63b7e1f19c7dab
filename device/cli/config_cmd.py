"""`scopecount config check|show`: is the config file right, and what the bench reads from it."""

from __future__ import annotations

import argparse

from device import config
from device.cli.options import Subcommands, add_config_option


def register(sub: Subcommands) -> None:
    cf = sub.add_parser("config", help="check or show the config file")
    cf.add_argument("action", choices=["check", "show"])
    add_config_option(cf)
    cf.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    cfg = config.load(a.config)
    if a.action == "show":
        print(config.to_toml(cfg), end="")
    elif a.config is None and not config.DEFAULT_PATH.exists():
        print(f"no config file at {config.DEFAULT_PATH}: built-in defaults")
    else:
        print(f"{a.config or config.DEFAULT_PATH}: ok")
    return 0

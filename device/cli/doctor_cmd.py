"""`scopecount doctor`: one line per check of the bench (the checks are device/cli/doctor.py,
with gpiozero: imported when the command runs)."""

from __future__ import annotations

import argparse

from device import config
from device.cli.options import Subcommands, add_config_option


def register(sub: Subcommands) -> None:
    doc = sub.add_parser("doctor", help="check camera, GPIO, storage, model, clock, service")
    add_config_option(doc)
    doc.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from device.cli.doctor import doctor

    return doctor(config.load(a.config))

"""`scopecount deploy [USER@]HOST FILE`: push a model to a bench over SSH (export/deploy.py)."""

from __future__ import annotations

import argparse

from device.cli.options import Subcommands


def register(sub: Subcommands) -> None:
    dp = sub.add_parser(
        "deploy",
        help="push a model to a bench over SSH",
        description="Stream FILE (and FILE.sig if present) to the bench's `scopecount model "
        "receive` through the system ssh client, with normal host-key checking.",
    )
    dp.add_argument("host", metavar="[USER@]HOST")
    dp.add_argument("file", metavar="FILE")
    dp.add_argument("--port", type=int)
    dp.add_argument("--identity", metavar="KEY")
    dp.add_argument(
        "--ssh-option",
        action="append",
        default=[],
        metavar="OPT",
        help="passed to ssh as -o OPT (e.g. UserKnownHostsFile=...)",
    )
    dp.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from export.deploy import deploy  # the workstation side: only this command reaches it

    return deploy(a.host, a.file, a.port, a.identity, a.ssh_option)

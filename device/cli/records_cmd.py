"""`scopecount records summary DIR`: what is on a stick, totals per day and sample."""

from __future__ import annotations

import argparse

from device.cli.options import Subcommands


def register(sub: Subcommands) -> None:
    rc = sub.add_parser("records", help="what is on a stick: totals per day and sample")
    rc.add_argument("action", choices=["summary"])
    rc.add_argument("dir", metavar="DIR", help="the stick (or any folder holding scopecount/)")
    rc.add_argument("--csv", metavar="FILE", help="also write every record into one CSV")
    rc.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from device.records.summary import summary_cmd

    return summary_cmd(a.dir, a.csv)

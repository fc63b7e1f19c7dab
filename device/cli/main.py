"""`scopecount`: the one command. Each subcommand's module adds its own arguments (`register`)
and imports what its work needs only when it runs, so that `count` never loads Textual and
nothing on the bench loads torch (export/ is imported inside the workstation commands only)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from device.cli import (
    annotate_cmd,
    benchmark_cmd,
    calibrate_cmd,
    clock_cmd,
    config_cmd,
    count_cmd,
    demo_cmd,
    deploy_cmd,
    doctor_cmd,
    evaluate_cmd,
    export_cmd,
    import_cmd,
    model_cmd,
    records_cmd,
    run_cmd,
    train_cmd,
)
from device.core.errors import BadInput
from device.core.text import printable

# In the order `scopecount --help` lists them.
COMMANDS = (
    count_cmd,
    train_cmd,
    evaluate_cmd,
    run_cmd,
    config_cmd,
    model_cmd,
    deploy_cmd,
    annotate_cmd,
    import_cmd,
    export_cmd,
    benchmark_cmd,
    calibrate_cmd,
    clock_cmd,
    doctor_cmd,
    records_cmd,
    demo_cmd,
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the value, and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse quotes the value it refused: a person's text, of any length, with anything
        # in it (a newline would break the one line, an escape would reach the terminal)
        sys.stderr.write(f"{self.prog}: error: {printable(message, 300)} (see --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="scopecount",
        description="Measure under the microscope: count objects (fly eggs, beetles, flies, "
        "cells) or measure how much of a section each tissue type covers (areas).",
    )
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=OneLineParser)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BadInput as e:
        print(f"scopecount: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and nobody to say it to.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if os.environ.get("SCOPECOUNT_DEBUG"):
            raise
        print(f"scopecount: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

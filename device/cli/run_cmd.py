"""`scopecount run`: the counting bench, with the terminal UI or headless (JSON lines)."""

from __future__ import annotations

import argparse
import threading

from device.cli.options import (
    Subcommands,
    add_config_option,
    add_model_option,
    add_store_option,
    config_help,
)


def register(sub: Subcommands) -> None:
    r = sub.add_parser(
        "run",
        help="the bench: button, light, camera, measure, record",
        description="Run the bench. Space (or the button, or SIGUSR1) measures the sample under "
        "the scope with the model (counts, or each class's share of the view for an areas "
        "model); a long hold (or v, or SIGUSR2) voids the last record; SIGTERM stops "
        "cleanly.",
    )
    add_config_option(r, config_help("TOML config"))
    r.add_argument("--sim", action="store_true", help="simulated camera, light and button")
    r.add_argument(
        "--sim-source",
        metavar="PATH",
        help="with --sim (implied), replay your own photographs (a folder of images, or a "
        "training or day folder) or a video instead of the synthetic demo vials",
    )
    r.add_argument("--headless", action="store_true", help="no UI: one JSON event per line")
    r.add_argument(
        "--storage", metavar="DIR", help="where records go (the USB stick's mount point)"
    )
    r.add_argument("--spool", metavar="DIR", help="SD-card spool while no stick is mounted")
    r.add_argument(
        "--local-storage",
        action="store_true",
        help="--storage is a plain folder, not a removable stick (demos, desktop use)",
    )
    add_model_option(r, "count with this model file (not watched)")
    add_store_option(r, "model store")
    r.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    # The bench, Textual and the camera load only when the bench runs
    from device import config
    from device.bench.assembly import RunOptions, assemble

    cfg = config.load(a.config)
    opts = RunOptions(
        sim=a.sim or a.sim_source is not None,
        sim_source=a.sim_source,
        storage=a.storage,
        spool=a.spool,
        model=a.model,
        store=a.store,
        local_storage=a.local_storage,
    )
    from device.bench.sdnotify import Notifier, start_pinger
    from device.core.logsetup import setup_logging

    setup_logging(tui=not a.headless)
    parts = assemble(cfg, opts)
    try:
        if a.headless:
            from device.bench.headless import run_headless

            return run_headless(parts.bench, Notifier())
        from device.tui.app import BenchApp

        stop = threading.Event()  # the TUI unit has a watchdog too
        start_pinger(parts.bench.healthy, Notifier(), stop)
        try:
            return BenchApp(parts.bench).run() or 0
        finally:
            stop.set()
    finally:
        parts.close()

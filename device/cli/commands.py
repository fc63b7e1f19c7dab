"""The subcommands behind `scopecount`: each imports what it needs when it runs, so that
`count` never loads Textual and nothing on the bench loads torch."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from device.core.errors import BadInput
from device.core.paths import default_model


def count(a: argparse.Namespace) -> int:
    from device.cli.count_cmd import count_files

    model = Path(a.model) if a.model else default_model()
    overlay = Path(a.overlay) if a.overlay else None
    return count_files(a.images, model, a.json, overlay, a.threads)


# A model whose training-image error is over this fraction of the mean count is called weak.
WEAK_REL_ERROR = 0.2
# From a clone, the train extra with PyTorch's CPU build (plain pip would pull the CUDA one, GBs).
TRAIN_TOOLS = (
    "in the clone, `make train-tools` (or .venv/bin/pip install -e '.[train]' "
    "--extra-index-url https://download.pytorch.org/whl/cpu)"
)


def int8_note(k: float) -> str:
    """How the int8 model's count scale differs from the float one's, in words."""
    if abs(k - 1.0) < 0.0005:
        return "int8 counts as float does"
    more = "below" if k > 1 else "above"
    return f"int8 counted {abs(1 - 1 / k) * 100:.1f}% {more} float, corrected"


def train(a: argparse.Namespace) -> int:
    from device.core.writable import writable_file

    writable_file(a.out, "--out")  # before torch loads (seconds) and training (minutes)
    try:
        from export.train import TrainOptions, TrainRefused, train
    except ImportError as e:
        raise BadInput(
            f"train needs the train extra ({e.name} is missing): {TRAIN_TOOLS}"
        ) from None
    from device.measuring.pi_cost import describe

    opts = TrainOptions(
        steps=a.steps,
        minutes=a.minutes,
        object_size=a.object_size,
        **({"object_px": a.object_px} if a.object_px is not None else {}),
        budget_gmac=a.budget_gmac,
        arch=a.arch,
        width=a.width,
        threads=a.threads,
        name=a.name,
        device=a.device,
        seed=a.seed,
    )
    try:
        rep = train(a.folder, a.out, opts)
    except TrainRefused as e:
        print(f"scopecount: refused: {e}", file=sys.stderr)
        return 1
    gmac = rep["macs_per_frame"] / 1e9
    print(
        f"wrote {rep['model']} ({rep['int8_bytes'] / 1024:.0f} KB int8; float "
        f"{rep['float_bytes'] / 1024:.0f} KB at {rep['float_model']})\n"
        f"  cost: {gmac:.2f} GMAC per {rep['frame']} frame; estimated {describe(gmac, rep['arch'])}"
        f"\n  count correction x{rep['count_scale']:.3f} (int8 x{rep['count_scale_int8']:.3f}: "
        f"{int8_note(rep['count_scale_int8'] / rep['count_scale'])})"
        f"\n    (every count is multiplied by this, fitted so that the model's counts of your "
        f"training images match your marks on average; 1.000 = no correction)"
        f"\n  int8 vs float counts, image by image: {rep['int8_vs_float'] * 100:.2f}%; "
        f"training-image MAE {rep['train_mae']:.2f}; {rep['steps']} steps; {rep['seconds']:.0f} s"
    )
    for sig in rep.get("removed_signatures", []):
        print(f"  removed {sig}: it signed the model this one replaces (sign the new one again)")
    if rep["learnt"] and rep.get("train_rel_error", 0) > WEAK_REL_ERROR:
        print(
            f"scopecount: warning: {a.out}: a weak model: its error on its own training images is "
            f"{rep['train_rel_error'] * 100:.0f}% of the mean count; held-out images do worse. "
            "More steps or more annotated images help; `evaluate` on images it never saw says "
            "how far to trust it",
            file=sys.stderr,
        )
    if not rep["learnt"]:
        print(
            f"scopecount: {a.out}: this model has NOT learnt to count (training-image MAE "
            f"{rep['train_mae']:.1f}, close to counting nothing): more steps or more annotated "
            "images; the file says so and `model install` warns",
            file=sys.stderr,
        )
        return 1
    return 0


def evaluate(a: argparse.Namespace) -> int:
    try:
        from export.evaluate import evaluate_cmd
    except ImportError as e:
        raise BadInput(
            f"evaluate needs the train extra ({e.name} is missing): {TRAIN_TOOLS}"
        ) from None
    return evaluate_cmd(a)


def run(a: argparse.Namespace) -> int:
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


def config(a: argparse.Namespace) -> int:
    from device import config

    cfg = config.load(a.config)
    if a.action == "show":
        print(config.to_toml(cfg), end="")
    elif a.config is None and not config.DEFAULT_PATH.exists():
        print(f"no config file at {config.DEFAULT_PATH}: built-in defaults")
    else:
        print(f"{a.config or config.DEFAULT_PATH}: ok")
    return 0


def model(a: argparse.Namespace) -> int:
    from device.cli.model_cmd import model_cmd

    return model_cmd(a)


def deploy(a: argparse.Namespace) -> int:
    from export.deploy import deploy

    return deploy(a.host, a.file, a.port, a.identity, a.ssh_option)


def doctor(a: argparse.Namespace) -> int:
    from device import config
    from device.cli.doctor import doctor

    return doctor(config.load(a.config))


def import_(a: argparse.Namespace) -> int:
    from export.importers import import_annotations

    notes: list[str] = []
    n_img, n_pts = import_annotations(a.format, a.src, a.folder, a.images, a.label, notes)
    for line in notes:
        print(line, file=sys.stderr)
    print(f"imported {n_pts} points on {n_img} images into {a.folder}")
    return 0


def export(a: argparse.Namespace) -> int:
    from export.importers import export_cellcounter

    n = export_cellcounter(a.folder, a.out)
    print(f"wrote {n} Cell Counter XML files to {a.out} (open them in Fiji's Cell Counter)")
    return 0


def annotate(a: argparse.Namespace) -> int:
    try:
        from export.annotate_server import address, serve
    except ImportError as e:
        raise BadInput(f"annotate: {e}") from None

    try:
        server = serve(a.folder, a.model, a.port)
    except OSError as e:  # the folder was read: what failed is the address
        raise BadInput(f"--port {a.port}: cannot listen on 127.0.0.1 ({e.strerror})") from None
    url = address(server)
    # First line: the full address, secret included (the API refuses requests without it).
    print(url, flush=True)
    print(f"annotating {a.folder} (Ctrl-C to stop; every change is saved)", flush=True)
    if not a.no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def benchmark(a: argparse.Namespace) -> int:
    from device.cli.benchmark import benchmark_cmd

    return benchmark_cmd(a.model, a.threads, a.repeats)


def records(a: argparse.Namespace) -> int:
    from device.records.summary import summary_cmd

    return summary_cmd(a.dir, a.csv)


def demo(a: argparse.Namespace) -> int:
    from device.hardware.synthetic import write_demo_folder

    write_demo_folder(Path(a.out), a.images, a.seed, (a.height, a.width))
    print(f"wrote {a.images} synthetic vial images and points.csv to {a.out}")
    return 0

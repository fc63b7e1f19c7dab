"""`scopecount calibrate`: micrometres per camera pixel for an objective, from a photograph of a
stage micrometer or a known figure, written into the config's [calibration] (the rest of the file
is kept as it is, comments too); every later record carries it (mm² for areas, objects per mm²
for counts)."""

from __future__ import annotations

import argparse
import json
import os
import re
import tomllib
from pathlib import Path

from device import config
from device.cli.options import Subcommands, add_config_option, config_help
from device.core.errors import BadInput
from device.core.imageio import read_rgb, write_atomic
from device.core.objectives import OBJECTIVE, UM_PER_PX_RANGE, parse_entry
from device.core.text import printable, printable_path

FRAME_HW = (960, 1280)  # the bench's frame, for the field of view said back
_SECTION = re.compile(r"^\s*\[\s*calibration\s*\]\s*(#.*)?$")
_ANY_TABLE = re.compile(r"^\s*\[")


def register(sub: Subcommands) -> None:
    c = sub.add_parser(
        "calibrate",
        help="micrometres per pixel for an objective (stage micrometer or known figure)",
        description="Photograph a stage micrometer with the bench's camera at the objective's "
        "zoom, then `scopecount calibrate PHOTO --division-um 10 --objective 20x` (10 µm "
        "between neighbouring divisions). Or give the figure: `--um-per-px 0.504`. Writes "
        "[calibration] into the config (other settings and comments kept) and makes the "
        "objective the one in use: records then carry um_per_px, mm2 (areas) and per_mm2 "
        "(counts). Calibrate again for each objective; `--objective NAME` alone switches.",
    )
    c.add_argument("image", nargs="?", metavar="PHOTO", help="a stage micrometer photograph")
    c.add_argument("--division-um", type=float, help="micrometres between two divisions")
    c.add_argument("--um-per-px", type=float, help="the scale itself, micrometres per pixel")
    c.add_argument("--objective", required=True, help="the objective's name, e.g. 20x")
    c.add_argument("--dry-run", action="store_true", help="say the figure, write nothing")
    add_config_option(c, config_help("the config file to write"))
    c.set_defaults(func=run)


def section_text(objectives: list[str], objective: str) -> str:
    items = ", ".join(json.dumps(o) for o in objectives)
    return f"[calibration]\nobjectives = [{items}]\nobjective = {json.dumps(objective)}\n"


def replace_section(text: str, section: str) -> str:
    """`text` with its [calibration] table replaced by `section` (appended when it has none)."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    skipping = False
    for line in lines:
        if _SECTION.match(line):
            skipping = True
            continue
        if skipping and _ANY_TABLE.match(line):
            skipping = False
        if not skipping:
            out.append(line)
    body = "".join(out)
    if body and not body.endswith("\n"):
        body += "\n"
    return body + ("\n" if body.strip() else "") + section


def measure(a: argparse.Namespace) -> tuple[float, str]:
    """The scale and how it was found; (0, "") when nothing was given (switch objective)."""
    if a.um_per_px is not None and (a.image is not None or a.division_um is not None):
        raise BadInput("give a PHOTO with --division-um, or --um-per-px, not both")
    if a.um_per_px is None and a.image is None and a.division_um is None:
        return 0.0, ""
    if a.um_per_px is not None:
        lo, hi = UM_PER_PX_RANGE
        if not lo <= a.um_per_px <= hi:
            raise BadInput(f"--um-per-px {a.um_per_px}: must be in [{lo}, {hi}]")
        return a.um_per_px, "as given"
    if a.division_um is None or not 0.01 <= a.division_um <= 100000:
        raise BadInput(
            "--division-um: the spacing of the stage micrometer's divisions, 0.01-100000 µm"
        )
    if a.image is None:
        raise BadInput("--division-um needs the PHOTO of the stage micrometer")
    from device.measuring.micrometer import find_divisions

    rgb = read_rgb(a.image)
    try:
        d = find_divisions(rgb.mean(axis=2))
    except ValueError as e:
        raise BadInput(f"{printable_path(a.image)}: {e}") from None
    um = a.division_um / d.period_px
    why = (
        f"divisions {d.period_px:.2f} px apart ({a.division_um:g} µm each), lines across "
        f"{d.angle_deg:.0f}°, contrast {d.strength:.0f}x"
    )
    return um, why


def run(a: argparse.Namespace) -> int:
    if not OBJECTIVE.fullmatch(a.objective):
        raise BadInput(
            f"--objective {printable(a.objective, 40)!r}: letters, digits, space, . _ + - "
            "(at most 40)"
        )
    path = Path(a.config) if a.config else config.DEFAULT_PATH
    # The file as it is must be valid before we touch it; no file yet: one is made.
    cfg = config.load(path) if path.exists() else config.Config()
    um, why = measure(a)
    known = [parse_entry(e, str(path)) for e in cfg.calibration.objectives]
    if um == 0.0:  # switch to an objective calibrated before
        match = [u for n, u in known if n == a.objective]
        if not match:
            raise BadInput(
                f"--objective {a.objective}: not calibrated yet (give a PHOTO with "
                "--division-um, or --um-per-px)"
            )
        um, why = match[0], "calibrated before"
    mine = f"{a.objective}={um:.6g}"
    entries = [
        mine if n == a.objective else e
        for (n, _), e in zip(known, cfg.calibration.objectives, strict=True)
    ]
    if mine not in entries:
        entries.append(mine)
    h, w = FRAME_HW
    print(
        f"{a.objective}: {um:.4f} µm per pixel ({why}); a {w}x{h} frame is "
        f"{w * um / 1000:.3f} x {h * um / 1000:.3f} mm"
    )
    if a.dry_run:
        return 0
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new = replace_section(text, section_text(entries, a.objective))
    try:
        config.from_dict(tomllib.loads(new), str(path))
    except tomllib.TOMLDecodeError as e:  # a [calibration] written oddly by hand: say so
        raise BadInput(f"{path}: could not update [calibration] ({e})") from None
    # A config that is a link (a managed file elsewhere) stays one: the file it names is
    # replaced, with the permissions it had (it may hold trusted keys).
    target = path.resolve() if path.is_symlink() else path
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    try:
        write_atomic(target, new.encode("utf-8"))
        os.chmod(target, mode)
    except OSError as e:
        raise BadInput(f"{path}: cannot write ({e.strerror}); run as root or --config") from None
    print(f"written to {printable_path(path)}: [calibration] objective = {a.objective}")
    return 0

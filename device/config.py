"""One validated config tree: TOML in, clear errors out (the file, the key and the reason)."""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

from device.core.errors import BadInput
from device.core.keys import parse_keys

DEFAULT_PATH = Path("/etc/scopecount/config.toml")
DEFAULT_STORE = "/var/lib/scopecount/models"  # the bench's model store, named here only


@dataclass(frozen=True)
class BenchCfg:
    name: str = "bench"  # goes into record ids (with a random id per install, made once)
    sample: str = "sample-001"  # the first sample id when this bench has recorded nothing yet


@dataclass(frozen=True)
class CameraCfg:
    backend: str = "picamera2"  # picamera2 | opencv | replay
    device: str = "0"  # opencv: index or /dev/video path
    folder: str = ""  # replay: a folder of images
    # 0: picamera2 captures 1280 wide from the sensor's 2x2 binned mode (HQ camera: 1280x960);
    # opencv takes the device default
    width: int = 0
    height: int = 0
    settle_ms: int = 500  # picamera2: auto exposure settles (ring at capture) this long, then locks
    timeout_ms: int = 5000  # picamera2: a capture that takes longer is a camera error
    lens_position: float = -1.0  # Camera Module 3: focus locked here (dioptres, 0 = infinity)
    exposure_us: int = 0  # 0: lock what auto exposure chose
    gain: float = 0.0  # 0: lock what auto gain chose
    awb_gains: list[float] = field(default_factory=list)  # [red, blue]; empty: lock auto
    delay_ms: int = 0  # replay: time one capture takes (a real sensor takes 100-300 ms)


@dataclass(frozen=True)
class LightCfg:
    kind: str = "pwm"  # pwm (white ring through a MOSFET) | none
    pin: int = 18
    ready: float = 0.05  # brightness while waiting (0-1)
    capture: float = 1.0  # brightness while capturing
    settle_ms: int = 150  # after switching to full, before the capture
    frequency: float = 1000.0  # Hz; lgpio's PWM is software-timed and takes 0.1-10000 Hz


@dataclass(frozen=True)
class ButtonCfg:
    pin: int = 17
    bounce_ms: int = 30  # contact bounce filtered by gpiozero and by the bench
    hold_s: float = 2.0  # a hold this long voids the last record
    # true: the button joins the pin to GND against the pull-up (pressed = low); false: it
    # drives the pin high against a pull-down (pressed = high), as QEMU's power key does
    pull_up: bool = True


@dataclass(frozen=True)
class GpioCfg:
    # auto: the 40-pin header's controller found by its label (a Pi 5's RP1 is gpiochip4 on
    # older kernels, gpiochip0 on newer ones); or a number (0), /dev/gpiochipN, or a label
    chip: str = "auto"


@dataclass(frozen=True)
class StorageCfg:
    path: str = "/media/scopecount"
    removable: bool = True  # a removable path is written only while something is mounted there
    spool: str = "/var/lib/scopecount/spool"
    min_free_mb: int = 64  # refuse captures when the spool has less than this
    warn_free_mb: int = 256  # warn when the stick has less than this
    image_format: str = "jpg"  # jpg | png


@dataclass(frozen=True)
class ModelCfg:
    path: str = ""  # a model file; empty: the store's active model, else the shipped default
    store: str = DEFAULT_STORE
    threads: int = 0  # onnxruntime threads; 0: the cores, at most 4 (always passed explicitly)
    max_mb: int = 32  # model install: largest file accepted
    keep: int = 3  # previous models kept for rollback
    smoke_budget_s: float = 10.0  # model install: a smoke inference must finish within this
    trusted_keys: list[str] = field(default_factory=list)  # "ssh-ed25519 AAAA..." lines


@dataclass(frozen=True)
class QualityCfg:
    focus_min: float = 15.0  # variance of the Laplacian below this: out of focus
    dark_max: float = 0.25  # fraction of clipped-dark pixels above this: underexposed
    bright_max: float = 0.25  # fraction of clipped-bright pixels above this: overexposed
    empty_std: float = 4.0  # grey-level spread below this: nothing in the field
    qr: bool = True  # read a QR label in the frame as the sample id


@dataclass(frozen=True)
class CalibrationCfg:
    # `scopecount calibrate` writes these: each objective's micrometres per camera pixel
    # ("NAME=UM_PER_PX"), and the one on the scope now. Empty: not calibrated (no mm² figures).
    objectives: list[str] = field(default_factory=list)
    objective: str = ""


@dataclass(frozen=True)
class Config:
    bench: BenchCfg = field(default_factory=BenchCfg)
    camera: CameraCfg = field(default_factory=CameraCfg)
    light: LightCfg = field(default_factory=LightCfg)
    button: ButtonCfg = field(default_factory=ButtonCfg)
    gpio: GpioCfg = field(default_factory=GpioCfg)
    storage: StorageCfg = field(default_factory=StorageCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    quality: QualityCfg = field(default_factory=QualityCfg)
    calibration: CalibrationCfg = field(default_factory=CalibrationCfg)


CHOICES = {
    ("camera", "backend"): ("picamera2", "opencv", "replay"),
    ("light", "kind"): ("pwm", "none"),
    ("storage", "image_format"): ("jpg", "png"),
}
RANGES = {
    ("light", "ready"): (0.0, 1.0),
    ("light", "capture"): (0.0, 1.0),
    ("light", "pin"): (0, 27),
    ("button", "pin"): (0, 27),
    ("button", "bounce_ms"): (0, 1000),
    ("button", "hold_s"): (0.2, 60.0),
    ("camera", "settle_ms"): (0, 10000),
    ("camera", "delay_ms"): (0, 10000),
    ("camera", "timeout_ms"): (100, 60000),
    ("camera", "lens_position"): (-1.0, 32.0),
    ("light", "settle_ms"): (0, 5000),
    ("light", "frequency"): (0.1, 10000.0),
    ("model", "threads"): (0, 64),
    ("model", "max_mb"): (1, 1024),
    ("model", "keep"): (0, 50),
    ("model", "smoke_budget_s"): (0.1, 600.0),
    # every other number too: a typo must not become a negative size, nan or inf
    ("camera", "width"): (0, 20000),
    ("camera", "height"): (0, 20000),
    ("camera", "exposure_us"): (0, 10_000_000),
    ("camera", "gain"): (0.0, 64.0),
    ("storage", "min_free_mb"): (0, 10_000_000),
    ("storage", "warn_free_mb"): (0, 10_000_000),
    ("quality", "focus_min"): (0.0, 1e6),
    ("quality", "dark_max"): (0.0, 1.0),
    ("quality", "bright_max"): (0.0, 1.0),
    ("quality", "empty_std"): (0.0, 255.0),
}
ITEM_RANGES = {("camera", "awb_gains"): (0.0, 32.0)}
MAX_CONFIG_BYTES = 1024 * 1024


def _convert(where: str, key: str, value: Any, typ: Any) -> Any:
    if typ is bool:
        if not isinstance(value, bool):
            raise BadInput(f"{where}: {key} = {value!r}: expected true or false")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadInput(f"{where}: {key} = {value!r}: expected an integer")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadInput(f"{where}: {key} = {value!r}: expected a number")
        return float(value)
    if typ is str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise BadInput(f"{where}: {key} = {value!r}: expected a string")
        return str(value)
    if typ == list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadInput(f"{where}: {key} = {value!r}: expected a list of strings")
        return list(value)
    if typ == list[float]:
        if not isinstance(value, list) or not all(isinstance(v, int | float) for v in value):
            raise BadInput(f"{where}: {key} = {value!r}: expected a list of numbers")
        return [float(v) for v in value]
    raise AssertionError(typ)


def from_dict(data: dict[str, Any], where: str) -> Config:
    sections = {}
    hints = get_type_hints(Config)
    for sec, body in data.items():
        if sec not in hints:
            raise BadInput(f"{where}: [{sec}]: unknown section (known: {', '.join(hints)})")
        if not isinstance(body, dict):
            raise BadInput(f"{where}: {sec}: expected a [{sec}] table")
        cls = hints[sec]
        sub_hints = get_type_hints(cls)
        values = {}
        for key, value in body.items():
            if key not in sub_hints:
                raise BadInput(f"{where}: [{sec}] {key}: unknown key")
            v = _convert(where, f"[{sec}] {key}", value, sub_hints[key])
            choices = CHOICES.get((sec, key))
            if choices and v not in choices:
                raise BadInput(
                    f"{where}: [{sec}] {key} = {v!r}: expected one of {', '.join(choices)}"
                )
            if (sec, key) in RANGES:
                lo, hi = RANGES[(sec, key)]
                if not lo <= v <= hi:
                    raise BadInput(f"{where}: [{sec}] {key} = {v!r}: must be in [{lo}, {hi}]")
            if (sec, key) in ITEM_RANGES:
                lo, hi = ITEM_RANGES[(sec, key)]
                if not all(lo <= x <= hi for x in v):
                    raise BadInput(f"{where}: [{sec}] {key} = {v!r}: each must be in [{lo}, {hi}]")
            values[key] = v
        sections[sec] = cls(**values)
    cfg = Config(**sections)
    if cfg.camera.backend == "replay" and not cfg.camera.folder:
        raise BadInput(f"{where}: [camera] folder: required when backend = 'replay'")
    parse_keys(cfg.model.trusted_keys, f"{where}: [model] trusted_keys")
    if bool(cfg.camera.width) != bool(cfg.camera.height):
        raise BadInput(f"{where}: [camera] width and height: give both, or neither (0)")
    from device.core.names import check_bench_name, check_sample

    check_bench_name(cfg.bench.name, f"{where}: [bench] name")
    check_sample(cfg.bench.sample, f"{where}: [bench] sample")
    if not re.fullmatch(r"[A-Za-z0-9_./@:-]{1,64}", cfg.gpio.chip):
        raise BadInput(
            f"{where}: [gpio] chip = {cfg.gpio.chip[:64]!r}: expected auto, a number, "
            "/dev/gpiochipN or a chip label"
        )
    from device.core.objectives import check_calibration

    check_calibration(cfg.calibration.objectives, cfg.calibration.objective, where)
    if len(cfg.camera.awb_gains) not in (0, 2):
        raise BadInput(f"{where}: [camera] awb_gains: expected [red, blue] or []")
    return cfg


def load(path: str | Path | None) -> Config:
    """The config at path; no file at the default path means built-in defaults."""
    p = Path(path) if path else DEFAULT_PATH
    if not p.exists():
        if path is None:
            return Config()
        raise BadInput(f"{p}: no such config file")
    try:
        data = tomllib.loads(_read_small(p).decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{p}: not valid TOML ({e})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{p}: cannot read ({e})") from None
    return from_dict(data, str(p))


def _read_small(p: Path) -> bytes:
    """A config is a small regular file: /dev/zero, a FIFO or a huge file is refused at once
    instead of being read forever."""
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise BadInput(f"{p}: cannot read ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"{p}: not a regular file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise BadInput(f"{p}: {st.st_size} bytes, over the {MAX_CONFIG_BYTES} byte limit")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise BadInput(f"{p}: over the {MAX_CONFIG_BYTES} byte limit")
    return data


def with_section(cfg: Config, **sections: Any) -> Config:
    return replace(cfg, **sections)


def to_toml(cfg: Config) -> str:
    """The config as a TOML file (what `scopecount config show` prints)."""
    out = []
    for f in fields(cfg):
        sec = getattr(cfg, f.name)
        assert is_dataclass(sec)
        out.append(f"[{f.name}]")
        for sf in fields(sec):
            v = getattr(sec, sf.name)
            if isinstance(v, bool):
                s = "true" if v else "false"
            elif isinstance(v, list):
                s = "[" + ", ".join(json.dumps(x) for x in v) + "]"
            elif isinstance(v, str):
                s = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            else:
                s = repr(v)
            out.append(f"{sf.name} = {s}")
        out.append("")
    return "\n".join(out)

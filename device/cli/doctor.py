"""`scopecount doctor`: one line per check, with what to do when it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from gpiozero.pins import Factory

from device.config import Config
from device.core.errors import BadInput
from device.core.text import printable
from device.hardware.camera import missing_lock_controls, picamera2_import_error
from device.records.mounts import RAM_FILESYSTEMS, free_bytes, mount_at, mount_holding

Check = tuple[bool, str, str]  # ok, what was found, what to do


def _import_picamera2() -> ModuleType:
    import picamera2

    return picamera2


def check_camera(cfg: Config, picamera2: Callable[[], ModuleType] = _import_picamera2) -> Check:
    if cfg.camera.backend == "replay":
        ok = Path(cfg.camera.folder).is_dir()
        return ok, f"replay camera over {cfg.camera.folder}", "set [camera] folder to a folder"
    if cfg.camera.backend == "opencv":
        dev = cfg.camera.device
        path = dev if dev.startswith("/dev/") else f"/dev/video{dev}"
        ok = os.access(path, os.R_OK | os.W_OK)
        return ok, f"USB camera {path}", "plug the camera in; add the user to group video"
    try:
        module = picamera2()
    except ImportError as e:
        return (
            False,
            picamera2_import_error(e),
            "sudo apt install python3-picamera2; venv made with --system-site-packages",
        )
    # libcamera's own list: what the camera stack really sees, without opening the camera
    # (which the running service may hold).
    cams = module.Picamera2.global_camera_info()
    if not cams:
        return (
            False,
            "picamera2 sees no camera",
            "check the ribbon cable (contacts towards the board), then `rpicam-hello --list`",
        )
    names = ", ".join(printable(str(c.get("Model", "?")), 40) for c in cams)
    return True, f"picamera2 sees {len(cams)} camera(s): {names}; {_lockable(module)}", ""


def _lockable(module: ModuleType) -> str:
    """Whether the first camera advertises the controls the bench locks. Not a failure: such a
    camera still counts, but frames are not exposed alike (the bench says so too)."""
    try:
        cam = module.Picamera2(0)
    except Exception as e:  # held by the running bench, or the stack refuses
        why = (str(e).splitlines() or [type(e).__name__])[0]
        return f"controls not checked (camera not opened: {printable(why, 80)})"
    try:
        missing = missing_lock_controls(cam.camera_controls)
    finally:
        cam.close()
    if missing:
        return f"cannot lock {', '.join(missing)} (exposure varies from frame to frame)"
    return "exposure and white balance lockable"


def check_gpio(cfg: Config, make_factory: Callable[[], Factory] | None = None) -> Check:
    """Create the pin factory the bench would use (on the chip it would use) and read the board
    it reports."""
    chip = ""
    if make_factory is None:
        from device.bench.assembly import gpio_factory
        from device.hardware.gpiochip import choose_chip, read_chips

        try:
            chip = ", " + choose_chip(read_chips(), cfg.gpio.chip).describe()
        except BadInput as e:
            return False, str(e)[:300], "see hardware_docs/troubleshooting.md (GPIO)"

        def make_factory() -> Factory:
            return gpio_factory(cfg.gpio.chip)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            factory = make_factory()
        except Exception as e:
            why = "; ".join(str(w.message) for w in caught) or str(e)
            return (
                False,
                f"no pin factory ({e}; {why})"[:300],
                "on a Pi: sudo usermod -aG gpio $USER and the pi extra (lgpio); "
                "see hardware_docs/troubleshooting.md",
            )
    try:
        name = type(factory).__name__
        try:
            board = factory.board_info
            where = f"{board.model} rev {board.revision}"
        except Exception as e:  # a factory without board info still drives pins
            where = f"unknown board ({e})"
        fallbacks = [str(w.message) for w in caught if "Falling back" in str(w.message)]
        ok = not fallbacks or name != "NativeFactory"
        found = f"{name} on {where}{chip}" + (f" ({fallbacks[0]})" if fallbacks else "")
        return ok, found, "install lgpio (the pi extra): the native factory has no real PWM"
    finally:
        factory.close()


def check_storage(cfg: Config) -> Check:
    path = Path(cfg.storage.path)
    if cfg.storage.removable:
        m = mount_at(path)
        if m is None:
            return (
                False,
                f"no stick mounted at {path}",
                "plug in a USB stick (records spool meanwhile)",
            )
        if m.read_only:
            return False, f"{path}: {m.source} mounted read-only", "check the stick's write lock"
    if not os.access(path, os.W_OK):
        return False, f"{path} not writable", f"chown the service user {path}"
    free = free_bytes(path) / 2**20
    ok = free > cfg.storage.warn_free_mb
    return ok, f"{path}: {free:.0f} MB free", "empty or replace the stick"


def check_spool(cfg: Config) -> Check:
    spool = Path(cfg.storage.spool)
    if not spool.is_dir():
        return (
            False,
            f"spool {spool} does not exist",
            f"sudo systemd/install.sh creates it (or mkdir -p {spool}, owned by the service user)",
        )
    if not os.access(spool, os.W_OK):
        return False, f"spool {spool} not writable", f"chown the service user {spool}"
    held = mount_holding(spool)
    if held is not None and held.fstype in RAM_FILESYSTEMS:
        # raspi-config's overlay file system: the spool (and the model store) live in RAM and
        # every record spooled while the stick is out is gone at the next power cut.
        return (
            False,
            f"spool {spool} is on {held.fstype} ({held.mount_point}): in RAM, lost at power off",
            "turn raspi-config's overlay file system off (Performance Options > Overlay)",
        )
    free = free_bytes(spool) / 2**20
    return (
        free > cfg.storage.min_free_mb,
        f"spool {spool}: {free:.0f} MB free on the SD card",
        "free space on the SD card",
    )


def check_model(cfg: Config) -> Check:
    from device.core.errors import BadInput
    from device.core.paths import default_model
    from device.measuring.detector import open_detector_file
    from device.models.store import ModelStore

    try:
        path = Path(cfg.model.path) if cfg.model.path else None
        if path is None:
            path = ModelStore(cfg.model.store).active_path() or default_model()
        c = open_detector_file(path, 1)
        found = f"model {c.name} ({', '.join(c.info.classes)}) from {path}"
        if c.info.warning_flag:  # the demo, or a model that never learnt: counts mean nothing
            return (
                False,
                f"{found}: {c.info.warning}",
                "teach the bench your own vials: scopecount train FOLDER, then deploy or "
                "model install; until then every record is flagged "
                f"'{c.info.warning_flag}' and left out of summary totals",
            )
        return True, found, ""
    except (BadInput, OSError) as e:
        return False, f"model: {e}", "scopecount model install FILE, or deploy one"


def check_clock(cfg: Config) -> Check:
    from device.bench.clock import clock_state

    st = clock_state()  # timesyncd, chrony or ntpd (the kernel's NTP state), an RTC, or by hand
    return (
        st.good,
        f"clock {'right' if st.good else 'not known right'} ({st.source})",
        "records are flagged 'clock' until then: a network with a time server, a battery for the"
        " RTC, or from a laptop: ssh BENCH sudo /opt/scopecount/venv/bin/scopecount clock set"
        ' "$(date -Is)"',
    )


UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


def check_service(cfg: Config, unit_dirs: tuple[str, ...] = UNIT_DIRS) -> Check:
    install = "sudo systemd/install.sh (installs and starts it)"
    if not any((Path(d) / "scopecount.service").exists() for d in unit_dirs):
        return False, "scopecount.service not installed", install
    if not shutil.which("systemctl"):
        return False, "systemctl not found", "run on the bench (Raspberry Pi OS)"
    out = subprocess.run(
        ["systemctl", "is-active", "scopecount.service"], capture_output=True, text=True
    )
    state = out.stdout.strip()
    if not state:  # systemd is not running here (a container, a chroot)
        why = (out.stderr.strip().splitlines() or ["no answer"])[0]
        return False, f"cannot ask systemd ({why})", "run doctor on the booted bench"
    return state == "active", f"scopecount.service {state}", "journalctl -u scopecount -e"


CHECKS: list[tuple[str, Callable[[Config], Check]]] = [
    ("camera", check_camera),
    ("gpio", check_gpio),
    ("storage", check_storage),
    ("spool", check_spool),
    ("model", check_model),
    ("clock", check_clock),
    ("service", check_service),
]


def doctor(cfg: Config) -> int:
    failed = 0
    for name, fn in CHECKS:
        try:
            ok, found, todo = fn(cfg)
        except Exception as e:  # a check that crashes is a failed check, not a crash
            ok, found, todo = False, f"{type(e).__name__}: {e}", "report this"
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:<8} {found}" + ("" if ok else f"  -> {todo}"))
    return 1 if failed else 0

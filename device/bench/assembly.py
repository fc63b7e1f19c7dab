"""The one place where the bench is assembled from config: real hardware or simulated."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from gpiozero.pins import Factory

from device.bench.clock import clock_state
from device.bench.locks import BenchLocks
from device.bench.loop import Bench
from device.bench.model_sources import FixedModel, ModelSource
from device.config import Config
from device.core.durable import makedirs_durable
from device.core.errors import BadInput
from device.core.keys import parse_keys
from device.core.paths import cache_dir, default_model
from device.core.text import printable_path
from device.core.writable import writable_dir
from device.hardware.button import BenchButton
from device.hardware.camera import Camera, CameraError
from device.hardware.light import Light, open_light
from device.hardware.opener import open_camera
from device.measuring.calibration import active as active_calibration
from device.measuring.detector import open_detector_file
from device.records.recorder import Recorder


@dataclass
class RunOptions:
    sim: bool = False
    storage: str | None = None
    spool: str | None = None
    model: str | None = None
    store: str | None = None
    local_storage: bool = False
    sim_source: str | None = None  # --sim replays this folder, image or video instead


@dataclass
class Assembled:
    bench: Bench
    camera: Camera
    light: Light
    button: BenchButton | None
    pin_factory: Factory | None
    locks: BenchLocks | None = None

    def close(self) -> None:
        if self.button is not None:
            self.button.close()
        self.light.close()
        self.camera.close()
        if self.locks is not None:
            self.locks.release()


def sim_factory() -> Factory:
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    return MockFactory(pin_class=MockPWMPin)


def demo_images() -> Path:
    """The synthetic demo vials the simulated camera replays (made once, then cached)."""
    folder = cache_dir() / "demo-vials"
    if not (folder / "points.csv").exists():
        from device.hardware.synthetic import write_demo_folder

        write_demo_folder(folder, 6, seed=7)
    return folder / "images"


def apply_sim(cfg: Config, source: str | None = None) -> Config:
    """--sim replaces camera, light and button settings of any config; the camera replays
    `source` (a lab's own photographs or a video) or the synthetic demo vials."""
    if source is not None and not Path(source).exists():
        raise BadInput(f"--sim-source {source}: no such folder, image or video")
    folder = source if source is not None else str(demo_images())
    cam = replace(cfg.camera, backend="replay", folder=folder, delay_ms=0)
    light = replace(cfg.light, kind="pwm", settle_ms=10)
    return replace(cfg, camera=cam, light=light)


log = logging.getLogger(__name__)

NO_HARDWARE_HINT = "to try the bench without hardware: scopecount run --sim"
LAPTOP_HINT = (
    "on a laptop: scopecount run --sim --storage records --local-storage --spool records/.spool,"
    " as `make run` does"
)


def storage_paths(cfg: Config, opts: RunOptions) -> tuple[Path, Path, bool]:
    """Checked, and nothing created yet: a plain storage folder's parent must exist (a typo must
    not grow a new tree of records nobody looks for); the spool is checked in make_spool."""
    storage = Path(opts.storage or cfg.storage.path)
    spool = Path(opts.spool or cfg.storage.spool)
    removable = cfg.storage.removable and not opts.local_storage
    option = "--storage" if opts.storage else "[storage] path"
    if not removable and not storage.is_dir():
        if storage.exists():
            raise BadInput(f"{option} {storage}: exists and is not a folder")
        if not storage.parent.is_dir():
            raise BadInput(f"{option} {storage}: no such folder (nor {storage.parent})")
    return storage, spool, removable


def make_storage(storage: Path, removable: bool, opts: RunOptions) -> None:
    """A plain folder is made like `mkdir` makes one: the last part only."""
    if not removable:
        if not storage.is_dir():
            try:
                storage.mkdir()
            except OSError as e:
                raise BadInput(f"--storage {storage}: cannot create ({e.strerror})") from None
        writable_dir(storage, "--storage" if opts.storage else "[storage] path", create=False)


def make_spool(spool: Path, opts: RunOptions) -> None:
    """The spool is the bench's own folder: created when missing (durably: it holds records
    until a stick returns), refused when unwritable."""
    option = "--spool" if opts.spool else "[storage] spool"
    if not spool.exists():
        # Like mkdir, the last part only: on a laptop (as root too) the Pi's default spool must
        # not grow /var/lib/scopecount.
        if not spool.parent.is_dir():
            hint = "" if opts.spool else f" (the bench is not installed here; {LAPTOP_HINT})"
            raise BadInput(
                f"{option} {printable_path(spool)}: no such folder "
                f"(nor {printable_path(spool.parent)}){hint}"
            )
        try:
            makedirs_durable(spool)
        except OSError as e:
            raise BadInput(f"{option} {spool}: cannot create the folder ({e.strerror})") from None
    writable_dir(spool, option)


def gpio_factory(chip: str = "auto", dev: Path = Path("/dev")) -> Factory:
    """The Pi's GPIO through gpiozero and lgpio, on the chip that carries the header (found by
    its label: a chip that moved between kernels is still found); off a Pi, one line saying
    what is missing instead of gpiozero's fallback warnings and BadPinFactory."""
    from device.hardware.gpiochip import choose_chip, read_chips

    chips = read_chips(dev)
    if not chips:
        raise BadInput(
            "no GPIO for the LED ring and button: no /dev/gpiochip* here (not a Raspberry Pi, "
            f"or no access: sudo usermod -aG gpio $USER); {NO_HARDWARE_HINT}"
        )
    found = choose_chip(chips, chip)
    try:
        from gpiozero.pins.lgpio import LGPIOFactory
    except ImportError:
        raise BadInput(
            f"GPIO {found.describe()}: lgpio is missing (Bookworm: the pi extra; Trixie: "
            f"sudo apt install python3-lgpio); {NO_HARDWARE_HINT}"
        ) from None
    log.info("gpio: %s", found.describe())
    return LGPIOFactory(chip=found.number)


def open_models(cfg: Config, opts: RunOptions) -> ModelSource:
    if opts.model:
        return FixedModel(open_detector_file(opts.model, cfg.model.threads))
    if cfg.model.path:
        return FixedModel(open_detector_file(cfg.model.path, cfg.model.threads))
    store = opts.store or cfg.model.store
    try:
        from device.bench.watched_model import WatchedModel
        from device.models.store import ModelStore

        st = ModelStore(store)
        if st.active_path() is not None:
            return WatchedModel(st, cfg.model.threads, _trusted(cfg))
    except ImportError:
        pass
    return FixedModel(open_detector_file(default_model(), cfg.model.threads))


def _clock_checker() -> Callable[[], bool]:
    """clock_state() per record until it is good, then never again: a clock once known right
    stays right, and an offline bench should not ask timedated at every press."""
    known = [False]

    def good() -> bool:
        known[0] = known[0] or clock_state().good
        return known[0]

    return good


def _trusted(cfg: Config) -> list:
    return parse_keys(cfg.model.trusted_keys)


def assemble(cfg: Config, opts: RunOptions, pin_factory: Factory | None = None) -> Assembled:
    # Everything that can be refused is checked before anything is created on disk.
    if opts.sim:
        cfg = apply_sim(cfg, opts.sim_source)
        pin_factory = pin_factory or sim_factory()
    models = open_models(cfg, opts)
    storage, spool, removable = storage_paths(cfg, opts)
    if pin_factory is None:  # the button always needs GPIO
        pin_factory = gpio_factory(cfg.gpio.chip)
    # The light first: the camera settles and locks its exposure under the ring at capture.
    light = open_light(cfg.light, pin_factory)
    try:
        option = "--sim-source" if opts.sim_source else "[camera] folder"
        camera = open_camera(cfg.camera, option, light)
    except CameraError as e:
        light.close()
        hint = "" if opts.sim else f" ({NO_HARDWARE_HINT})"
        raise BadInput(f"camera: {e}{hint}") from None
    except BaseException:
        light.close()
        raise
    try:
        make_storage(storage, removable, opts)
        make_spool(spool, opts)
        # One bench per storage and spool: taken before the recorder cleans up after kills.
        locks = BenchLocks(storage, spool)
    except BaseException:
        camera.close()
        light.close()
        raise
    try:
        # --sim runs on a laptop, whose clock its own time service keeps: the check is the Pi's
        clock_ok = (lambda: True) if opts.sim else _clock_checker()
        return _assemble(
            cfg, pin_factory, storage, spool, removable, locks, models, camera, light, clock_ok
        )
    except BaseException:
        locks.release()
        camera.close()
        light.close()
        raise


def _assemble(
    cfg: Config,
    pin_factory: Factory | None,
    storage: Path,
    spool: Path,
    removable: bool,
    locks: BenchLocks,
    models: ModelSource,
    camera: Camera,
    light: Light,
    clock_ok: Callable[[], bool],
) -> Assembled:
    try:
        recorder = Recorder(
            storage,
            spool,
            cfg.bench.name,
            removable,
            cfg.storage.image_format,
            cfg.storage.min_free_mb,
            cfg.storage.warn_free_mb,
        )
    except PermissionError as e:
        raise BadInput(f"spool {spool}: not writable ({e.strerror}); use --spool DIR") from None
    bench = Bench(
        camera,
        light,
        models,
        recorder,
        cfg.quality,
        settle_s=cfg.light.settle_ms / 1000,
        debounce_s=cfg.button.bounce_ms / 1000,
        sample=recorder.first_sample(cfg.bench.sample),
        clock_ok=clock_ok,
        calibration=active_calibration(cfg.calibration.objectives, cfg.calibration.objective),
    )
    button = BenchButton(cfg.button, bench.press, bench.hold, pin_factory)
    return Assembled(bench, camera, light, button, pin_factory, locks)

"""The one place where the bench is assembled from config: real hardware or simulated."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from gpiozero.pins import Factory

from device.bench import Bench, FixedModel, ModelSource
from device.config import Config
from device.counter import Counter
from device.durable import makedirs_durable
from device.errors import BadInput
from device.hardware.button import BenchButton
from device.hardware.camera import Camera, CameraError, open_camera
from device.hardware.light import Light, open_light
from device.locks import BenchLocks
from device.paths import cache_dir, default_model
from device.recorder import Recorder


@dataclass
class RunOptions:
    sim: bool = False
    storage: str | None = None
    spool: str | None = None
    model: str | None = None
    store: str | None = None
    local_storage: bool = False


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
        from export.synthetic import write_demo_folder

        write_demo_folder(folder, 6, seed=7)
    return folder / "images"


def apply_sim(cfg: Config) -> Config:
    """--sim replaces camera, light and button settings of any config."""
    cam = replace(cfg.camera, backend="replay", folder=str(demo_images()), delay_ms=0)
    light = replace(cfg.light, kind="pwm", settle_ms=10)
    return replace(cfg, camera=cam, light=light)


def storage_paths(cfg: Config, opts: RunOptions) -> tuple[Path, Path, bool]:
    storage = Path(opts.storage or cfg.storage.path)
    spool = Path(opts.spool or cfg.storage.spool)
    removable = cfg.storage.removable and not opts.local_storage
    if not removable and not storage.is_dir():
        try:
            storage.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"--storage {storage}: cannot create ({e.strerror})") from None
    return storage, spool, removable


def open_models(cfg: Config, opts: RunOptions) -> ModelSource:
    if opts.model:
        return FixedModel(Counter.from_file(opts.model, cfg.model.threads))
    if cfg.model.path:
        return FixedModel(Counter.from_file(cfg.model.path, cfg.model.threads))
    store = opts.store or cfg.model.store
    try:
        from device.store import ModelStore, WatchedModel

        st = ModelStore(store)
        if st.active_path() is not None:
            return WatchedModel(st, cfg.model.threads, _trusted(cfg))
    except ImportError:
        pass
    return FixedModel(Counter.from_file(default_model(), cfg.model.threads))


def _trusted(cfg: Config) -> list:
    from device.signing import parse_public_key

    return [parse_public_key(k, "[model] trusted_keys") for k in cfg.model.trusted_keys]


def assemble(cfg: Config, opts: RunOptions, pin_factory: Factory | None = None) -> Assembled:
    if opts.sim:
        cfg = apply_sim(cfg)
        pin_factory = pin_factory or sim_factory()
    storage, spool, removable = storage_paths(cfg, opts)
    try:
        makedirs_durable(spool)
    except PermissionError as e:
        raise BadInput(f"spool {spool}: not writable ({e.strerror}); use --spool DIR") from None
    # One bench per storage and spool: taken before the recorder cleans up after kills.
    locks = BenchLocks(storage, spool)
    try:
        return _assemble(cfg, opts, pin_factory, storage, spool, removable, locks)
    except BaseException:
        locks.release()
        raise


def _assemble(
    cfg: Config,
    opts: RunOptions,
    pin_factory: Factory | None,
    storage: Path,
    spool: Path,
    removable: bool,
    locks: BenchLocks,
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
    models = open_models(cfg, opts)
    try:
        camera = open_camera(cfg.camera)
    except CameraError as e:
        raise BadInput(f"camera: {e}") from None
    light = open_light(cfg.light, pin_factory)
    bench = Bench(
        camera,
        light,
        models,
        recorder,
        cfg.quality,
        settle_s=cfg.light.settle_ms / 1000,
        debounce_s=cfg.button.bounce_ms / 1000,
        sample=recorder.first_sample(cfg.bench.sample),
    )
    button = BenchButton(cfg.button, bench.press, bench.hold, pin_factory)
    return Assembled(bench, camera, light, button, pin_factory, locks)

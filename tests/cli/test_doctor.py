from tests.conftest import run_cli, squares_image, write_png


def test_doctor_one_line_per_check_with_remedies(tmp_path, spot_model):
    write_png(tmp_path / "imgs" / "a.png", squares_image([(20, 20)]))
    (tmp_path / "rec").mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[camera]\nbackend = "replay"\nfolder = "{tmp_path / "imgs"}"\n'
        f'[storage]\npath = "{tmp_path / "rec"}"\nremovable = false\nspool = "{tmp_path / "sp"}"\n'
        f"warn_free_mb = 1\nmin_free_mb = 1\n"
        f'[model]\npath = "{spot_model}"\n'
    )
    proc = run_cli("doctor", "--config", str(cfg))
    lines = proc.stdout.decode().splitlines()
    names = [ln.split()[1] for ln in lines]
    assert names == ["camera", "gpio", "storage", "spool", "model", "clock", "service"]
    by = {ln.split()[1]: ln for ln in lines}
    assert by["camera"].startswith("ok") and by["storage"].startswith("ok")
    # the fixture is marked as trained on synthetic vials: doctor says its counts mean nothing
    assert by["model"].startswith("FAIL") and "bright-spot" in by["model"]
    assert "synthetic vials only" in by["model"] and "scopecount train" in by["model"]
    assert by["gpio"].startswith("ok") or "->" in by["gpio"]  # a remedy whenever it fails
    assert proc.returncode == 1


def test_gpio_check_creates_the_pin_factory_and_names_the_board():
    from gpiozero.pins.mock import MockFactory

    from device.cli.doctor import check_gpio
    from device.config import Config

    ok, found, _ = check_gpio(Config(), lambda: MockFactory(revision="c03111"))
    assert ok and found.startswith("MockFactory on 4B rev c03111"), found

    def broken():
        raise RuntimeError("Unable to load any default pin factory!")

    ok, found, todo = check_gpio(Config(), broken)
    assert not ok and "Unable to load any default pin factory" in found and "gpio" in todo


def test_camera_check_asks_picamera2_for_cameras():
    import types

    from device.cli.doctor import check_camera
    from device.config import Config
    from tests.support import picamera2_standin

    module = types.SimpleNamespace(Picamera2=picamera2_standin.Picamera2)
    ok, found, _ = check_camera(Config(), lambda: module)
    assert ok and found == (
        "picamera2 sees 1 camera(s): imx477; exposure and white balance lockable"
    )
    picamera2_standin.Picamera2.sensor = "Virtual0"
    try:
        ok, found, _ = check_camera(Config(), lambda: module)
    finally:
        picamera2_standin.Picamera2.sensor = "imx477"
    assert ok and "Virtual0; cannot lock AeEnable, AwbEnable, ExposureTime" in found
    picamera2_standin.Picamera2.sensor = ""
    try:
        ok, found, todo = check_camera(Config(), lambda: module)
    finally:
        picamera2_standin.Picamera2.sensor = "imx477"
    assert not ok and found == "picamera2 sees no camera" and "ribbon" in todo


def test_doctor_missing_spool_and_uninstalled_service_are_not_ok(tmp_path, spot_model):
    (tmp_path / "rec").mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[storage]\npath = "{tmp_path / "rec"}"\nremovable = false\n'
        f'spool = "{tmp_path / "no-spool"}"\n[model]\npath = "{spot_model}"\n'
    )
    lines = run_cli("doctor", "--config", str(cfg)).stdout.decode().splitlines()
    by = {ln.split()[1]: ln for ln in lines}
    assert by["spool"].startswith("FAIL") and "does not exist" in by["spool"]
    assert "install.sh" in by["spool"]
    assert not (tmp_path / "no-spool").exists()


def test_service_not_installed_suggests_install_not_journalctl(tmp_path):
    from device.cli.doctor import check_service
    from device.config import Config

    ok, found, todo = check_service(Config(), unit_dirs=(str(tmp_path),))
    assert not ok and "not installed" in found
    assert "install.sh" in todo and "journalctl" not in todo


def test_a_spool_in_ram_is_refused(tmp_path, monkeypatch):
    """raspi-config's overlay file system puts the spool in RAM: doctor says so."""
    from device.cli import doctor
    from device.config import Config, StorageCfg
    from device.records.mounts import Mount

    overlay = Mount(mount_point="/", fstype="overlay", source="overlay", options=("rw",))
    monkeypatch.setattr(doctor, "mount_holding", lambda _p: overlay)
    cfg = Config(storage=StorageCfg(spool=str(tmp_path)))
    ok, found, todo = doctor.check_spool(cfg)
    assert not ok and "overlay" in found and "raspi-config" in todo
    monkeypatch.setattr(doctor, "mount_holding", lambda _p: None)
    assert doctor.check_spool(cfg)[0]


def test_doctor_is_content_with_a_taught_model(tmp_path, taught_model):
    from device.cli.doctor import check_model
    from device.config import Config, ModelCfg

    ok, found, _ = check_model(Config(model=ModelCfg(path=str(taught_model))))
    assert ok and "bright-spot" in found

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
    assert by["model"].startswith("ok") and "bright-spot" in by["model"]
    assert by["gpio"].startswith("ok") or "->" in by["gpio"]  # a remedy whenever it fails
    assert proc.returncode == 1


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
    from device.config import Config
    from device.doctor import check_service

    ok, found, todo = check_service(Config(), unit_dirs=(str(tmp_path),))
    assert not ok and "not installed" in found
    assert "install.sh" in todo and "journalctl" not in todo

"""`scopecount calibrate`: from a stage micrometer photograph or a figure, into the config (the
rest of it kept), switching objectives, refusals that change nothing; then a record carries
micrometres per pixel and mm²."""

from __future__ import annotations

import tomllib

import pytest

from device import config
from device.measuring.calibration import Calibration, active
from device.measuring.result import Measurement
from tests.conftest import run_cli, write_png
from tests.measuring.test_micrometer import micrometer

HEAD = '# our bench\n[bench]\nname = "lab-3"  # room 3\n\n[storage]\npath = "/media/x"\n'


def cal_of(path):
    c = config.load(path).calibration
    return c.objectives, c.objective


def test_a_micrometer_photo_gives_the_scale_and_keeps_the_rest_of_the_config(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(HEAD)
    photo = tmp_path / "micrometer.png"
    write_png(photo, micrometer(19.84, 33.0)[..., None].repeat(3, axis=2))
    r = run_cli(
        "calibrate", str(photo), "--division-um", "10", "--objective", "20x", "--config", str(cfg)
    )
    assert r.returncode == 0, r.stderr
    assert "20x: 0.50" in r.stdout.decode()
    text = cfg.read_text()
    assert text.startswith(HEAD)  # comments and other sections as they were
    got = active(*cal_of(cfg))
    assert got is not None and got.objective == "20x"
    assert got.um_per_px == pytest.approx(10 / 19.84, rel=0.005)


def test_a_second_objective_and_switching_back(tmp_path):
    cfg = tmp_path / "config.toml"
    assert (
        run_cli(
            "calibrate", "--um-per-px", "0.5", "--objective", "20x", "--config", str(cfg)
        ).returncode
        == 0
    )
    assert (
        run_cli(
            "calibrate", "--um-per-px", "2.5", "--objective", "4x", "--config", str(cfg)
        ).returncode
        == 0
    )
    assert active(*cal_of(cfg)) == Calibration("4x", 2.5)
    r = run_cli("calibrate", "--objective", "20x", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert active(*cal_of(cfg)) == Calibration("20x", 0.5)
    assert tomllib.loads(cfg.read_text())["calibration"]["objectives"] == ["20x=0.5", "4x=2.5"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--um-per-px", "-1", "--objective", "20x"], "--um-per-px -1.0: must be in"),
        (["--um-per-px", "1", "--objective", "../x"], "--objective '../x'"),
        (["--objective", "40x"], "not calibrated yet"),
        (["PHOTO", "--objective", "20x"], "--division-um"),
        (["PHOTO", "--division-um", "10", "--um-per-px", "1", "--objective", "20x"], "not both"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_the_config_unchanged(tmp_path, args, says):
    cfg = tmp_path / "config.toml"
    cfg.write_text(HEAD)
    photo = write_png(tmp_path / "p.png", micrometer(12.0, 0.0)[..., None].repeat(3, axis=2))
    args = [str(photo) if x == "PHOTO" else x for x in args]
    r = run_cli("calibrate", *args, "--config", str(cfg))
    err = r.stderr.decode()
    assert r.returncode == 2 and says in err and len(err.strip().splitlines()) == 1
    assert cfg.read_text() == HEAD


def test_a_photo_without_lines_is_refused_naming_it(tmp_path):
    cfg = tmp_path / "config.toml"
    import numpy as np

    photo = write_png(tmp_path / "blank.png", np.full((240, 320, 3), 128, np.uint8))
    r = run_cli(
        "calibrate", str(photo), "--division-um", "10", "--objective", "20x", "--config", str(cfg)
    )
    assert r.returncode == 2 and "blank.png: no regular lines" in r.stderr.decode()
    assert not cfg.exists()


def test_a_hand_written_bad_calibration_is_refused_by_the_config_check(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[calibration]\nobjectives = ["20x=abc"]\n')
    r = run_cli("config", "check", "--config", str(cfg))
    assert r.returncode == 2 and "[calibration] objectives: '20x=abc'" in r.stderr.decode()
    cfg.write_text('[calibration]\nobjectives = ["20x=0.5"]\nobjective = "40x"\n')
    r = run_cli("config", "check", "--config", str(cfg))
    assert (
        r.returncode == 2 and "objective = '40x': not among objectives (20x)" in r.stderr.decode()
    )


def test_records_gain_square_millimetres_and_objects_per_square_millimetre():
    cal = Calibration("20x", 0.5)
    areas = Measurement(
        {}, [], {}, 1.0, task="areas", areas={"gland": 0.25}, pixels={"gland": 4_000_000}
    )
    assert cal.record_fields(areas, (960, 1280))["mm2"] == {"gland": 1.0}
    counts = Measurement({"egg": 30}, [], {}, 1.0)
    f = cal.record_fields(counts, (1000, 1000))  # 0.5 x 0.5 mm = 0.25 mm²
    assert f["per_mm2"] == {"egg": 120.0} and f["um_per_px"] == 0.5


def test_a_linked_config_stays_a_link_and_keeps_its_permissions(tmp_path):
    real = tmp_path / "managed" / "real.toml"
    real.parent.mkdir()
    real.write_text(HEAD)
    real.chmod(0o600)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    r = run_cli("calibrate", "--um-per-px", "0.5", "--objective", "20x", "--config", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and (real.stat().st_mode & 0o777) == 0o600
    assert "[calibration]" in real.read_text() and real.read_text().startswith(HEAD)

"""The units as committed: systemd-analyze security and verify; the install script."""

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNITS = REPO / "systemd"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed (make test installs it as root)")
    return path


def settings(unit: str) -> dict[str, list[str]]:
    """The unit's Key=value lines (every value of a key that repeats), comments left out."""
    out: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("unit", ["scopecount.service", "scopecount-tui.service"])
def test_exposure_at_most_2_5(unit):
    need("systemd-analyze")
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNITS / unit)],
        capture_output=True,
        text=True,
    )
    m = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", out.stdout)
    assert m, out.stdout + out.stderr
    assert float(m.group(1)) <= 2.5


@pytest.mark.parametrize("unit", ["scopecount.service", "scopecount-tui.service"])
def test_the_sandbox_leaves_what_gpiozero_lgpio_and_onnxruntime_need(unit):
    s = settings(unit)
    # lgpio makes a FIFO in the cwd at import: the cwd must be the writable state directory.
    assert s["WorkingDirectory"] == ["/var/lib/scopecount"]
    assert s["StateDirectory"] == ["scopecount"]
    # /media, never a bind mount at the storage path: that would look like a mounted stick.
    assert s.get("ReadWritePaths") == ["-/media"]
    # gpiozero reads the board revision from /proc/cpuinfo and /proc/device-tree.
    assert "ProcSubset" not in s
    assert "char-gpiochip rw" in s["DeviceAllow"]
    # The watchdog is pinged by the worker's health, in both units.
    assert s["WatchdogSec"] and s["NotifyAccess"] == ["main"]
    # @resources (sched_setaffinity) stays filtered: the counter passes explicit threads.
    assert any("@resources" in f for f in s["SystemCallFilter"])
    # ...but a library that asks anyway (Debian 13's numpy does) gets EPERM, not SIGSYS
    assert s["SystemCallErrorNumber"] == ["EPERM"]


def test_onnxruntime_always_gets_an_explicit_thread_count(spot_model):
    from device.measuring.counter import Counter, resolve_threads

    assert resolve_threads(0) >= 1 and resolve_threads(3) == 3
    c = Counter.from_file(spot_model, 0)
    assert c.session.get_session_options().intra_op_num_threads == resolve_threads(0) >= 1


def test_tui_unit_keeps_its_console():
    s = settings("scopecount-tui.service")
    assert s["TTYPath"] == ["/dev/tty1"]
    assert s["StandardInput"] == ["tty"] and s["StandardOutput"] == ["tty"]
    assert "/dev/tty1 rw" in s["DeviceAllow"]
    assert "tty" in s["SupplementaryGroups"][0].split()
    assert "--headless" not in s["ExecStart"][0]


@pytest.mark.parametrize("unit", ["scopecount.service", "scopecount-tui.service"])
def test_units_verify_clean(tmp_path, unit):
    need("systemd-analyze")
    exe = Path(sys.executable).with_name("scopecount")
    text = (UNITS / unit).read_text()
    assert "ExecStart=/opt/scopecount/venv/bin/scopecount " in text
    (tmp_path / unit).write_text(text.replace("/opt/scopecount/venv/bin/scopecount", str(exe)))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / unit)], capture_output=True, text=True
    )
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_service_is_notify_with_watchdog_and_restart_limits():
    text = (UNITS / "scopecount.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StartLimitBurst=",
        "--headless",
        "User=scopecount",
    ):
        assert line in text


@pytest.mark.parametrize(
    "script",
    [
        "systemd/install.sh",
        "systemd/scopecount-stick",
        "tests/pi/build-image.sh",
        "tests/pi/setup-host.sh",
    ],
)
def test_scripts_are_shellcheck_clean(script):
    need("shellcheck")
    out = subprocess.run(["shellcheck", str(REPO / script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def enabled(root: Path) -> list[str]:
    wants = root / "etc/systemd/system/multi-user.target.wants"
    return sorted(p.name for p in wants.iterdir()) if wants.is_dir() else []


def test_install_keeps_the_chosen_unit_and_uninstall_keeps_a_source_clone(tmp_path):
    need("systemctl")
    script, root = str(UNITS / "install.sh"), tmp_path / "root"

    def install(*args: str) -> subprocess.CompletedProcess:
        out = subprocess.run(
            [script, "--prefix", str(root), "--no-pip", *args], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out

    install()
    assert enabled(root) == ["scopecount.service"]
    install("--tui")
    assert enabled(root) == ["scopecount-tui.service"]
    install()  # an update: the TUI bench stays a TUI bench
    assert enabled(root) == ["scopecount-tui.service"]
    install("--headless")
    assert enabled(root) == ["scopecount.service"]
    assert (root / "usr/local/lib/scopecount/scopecount-stick").stat().st_mode & 0o111
    dog = root / "etc/systemd/system.conf.d/scopecount-watchdog.conf"
    assert "RuntimeWatchdogSec=15s" in dog.read_text()  # the hardware watchdog is used
    clone = root / "opt/scopecount/src"
    (clone / ".git").mkdir(parents=True)
    (clone / "README.md").write_text("a lab's clone\n")
    out = subprocess.run(
        [script, "--prefix", str(root), "--uninstall"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert (clone / "README.md").read_text() == "a lab's clone\n"
    assert not (root / "opt/scopecount/venv").exists() and enabled(root) == []


def test_install_gives_the_service_user_a_shell_for_deploys_forced_command():
    """sshd runs a forced command through the login shell: nologin would refuse every deploy.
    (The VM in make pi-test runs the real deploy against the user install.sh creates.)"""
    text = (UNITS / "install.sh").read_text()
    assert "--shell /bin/sh" in text and "/usr/sbin/nologin" not in text
    assert "passwd -l" in text  # no password login: the key's forced command is the only way
    assert "apt-cache show" in text  # python3-picamera2 absent (plain Debian): said, not fatal


def test_install_script_in_a_throwaway_root(tmp_path):
    script = str(UNITS / "install.sh")
    root = tmp_path / "root"
    for _ in range(2):  # idempotent: the second run changes nothing and succeeds
        out = subprocess.run(
            [script, "--prefix", str(root), "--no-pip"], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
    assert "kept existing" in out.stdout
    for p in (
        "etc/systemd/system/scopecount.service",
        "etc/udev/rules.d/99-scopecount-usb.rules",
        "etc/udev/rules.d/60-scopecount-gpio.rules",
        "etc/scopecount/config.toml",
        "opt/scopecount/venv/bin/python",
        "var/lib/scopecount/spool",
    ):
        assert (root / p).exists(), p
    cfg = root / "etc/scopecount/config.toml"
    chk = subprocess.run(
        [
            str(Path(sys.executable).with_name("scopecount")),
            "config",
            "check",
            "--config",
            str(cfg),
        ],
        capture_output=True,
        text=True,
    )
    assert chk.returncode == 0, chk.stderr
    out = subprocess.run(
        [script, "--prefix", str(root), "--uninstall"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert not (root / "etc/systemd/system/scopecount.service").exists()
    assert cfg.exists()  # the lab's settings survive an uninstall
    bad = subprocess.run([script, "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown option --bogus" in bad.stderr


def test_install_puts_scopecount_on_the_path_and_uninstall_takes_it_away(tmp_path):
    """`scopecount doctor` in the docs works in any shell: a link in /usr/local/bin (under the
    prefix here) to the venv's command; a file there that is not a link is left alone."""
    need("systemctl")
    script, root = str(UNITS / "install.sh"), tmp_path / "root"
    bindir, venv_cmd = root / "usr/local/bin", root / "opt/scopecount/venv/bin/scopecount"

    def install(*args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([script, "--prefix", str(root), *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out

    install("--no-pip")
    link = bindir / "scopecount"
    assert link.is_symlink() and Path(os.readlink(link)) == venv_cmd
    # --no-pip installs no package: stand in for the venv's console script
    venv_cmd.write_text('#!/bin/sh\necho scopecount from the venv "$@"\n')
    venv_cmd.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:/usr/bin:/bin"}
    assert shutil.which("scopecount", path=env["PATH"]) == str(link)
    ran = subprocess.run(["scopecount", "doctor"], capture_output=True, text=True, env=env)
    assert ran.stdout == "scopecount from the venv doctor\n"
    install("--no-pip")  # a rerun keeps the link as it is
    assert Path(os.readlink(link)) == venv_cmd
    install("--uninstall")
    assert not link.exists() and not link.is_symlink()

    link.write_text("#!/bin/sh\n# someone else's scopecount\n")
    out = install("--no-pip")
    assert "kept" in out.stdout and not link.is_symlink()
    install("--uninstall")
    assert link.read_text() == "#!/bin/sh\n# someone else's scopecount\n"


def test_an_admins_own_link_stays_and_a_relative_prefix_links_to_a_real_path(tmp_path):
    need("systemctl")
    script = str(UNITS / "install.sh")
    run = functools.partial(subprocess.run, capture_output=True, text=True, cwd=tmp_path)
    out = run([script, "--prefix", "trial", "--no-pip"])
    assert out.returncode == 0, out.stderr
    link = tmp_path / "trial/usr/local/bin/scopecount"
    assert os.readlink(link) == str(tmp_path / "trial/opt/scopecount/venv/bin/scopecount")
    link.unlink()
    link.symlink_to("/srv/dev-venv/bin/scopecount")  # an admin's own development venv
    out = run([script, "--prefix", "trial", "--no-pip"])
    assert "kept" in out.stdout and os.readlink(link) == "/srv/dev-venv/bin/scopecount"
    out = run([script, "--prefix", "trial", "--uninstall"])
    assert "kept" in out.stdout and os.readlink(link) == "/srv/dev-venv/bin/scopecount"

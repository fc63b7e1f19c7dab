"""The lock (.ci/requirements.lock): it agrees with pyproject.toml, with apt on both Pi OS
releases, and with what this test run has installed."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / ".ci" / "requirements.lock"
APT = ROOT / ".ci" / "apt-versions.txt"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)\s*(?:;\s*(.+))?$")

PI = {  # the Pi's Pythons: Bookworm 3.11, Trixie 3.13, both aarch64 Linux
    "bookworm": {"python_version": "3.11", "python_full_version": "3.11.2"},
    "trixie": {"python_version": "3.13", "python_full_version": "3.13.5"},
}
LINUX_ARM = {"platform_machine": "aarch64", "sys_platform": "linux", "platform_system": "Linux"}


def pins(path: Path) -> list[tuple[str, str, Marker | None]]:
    out = []
    for line in path.read_text().splitlines():
        m = PIN.match(line.strip())
        if m:
            marker = Marker(m.group(3)) if m.group(3) else None
            out.append((canonicalize_name(m.group(1)), m.group(2), marker))
    return out


def pinned_for(env: dict[str, str], path: Path = LOCK) -> dict[str, str]:
    """name -> version for one environment; two pins for one name there is a broken lock."""
    chosen: dict[str, str] = {}
    for name, version, marker in pins(path):
        if marker is None or marker.evaluate(env):
            assert name not in chosen, f"{path.name}: two pins for {name} in {env}"
            chosen[name] = version
    return chosen


def requirements(extras: list[str]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def env_for(os_name: str) -> dict[str, str]:
    return {**LINUX_ARM, **PI[os_name]}


@pytest.mark.parametrize("os_name", sorted(PI))
def test_pi_install_is_locked_and_keeps_apts_numpy(os_name):
    env = env_for(os_name)
    chosen = pinned_for(env)
    for req in requirements(["pi"]):
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in chosen, f"{name} has no pin for {os_name} in {LOCK.name}"
        assert Version(chosen[name]) in req.specifier, f"{name} {chosen[name]} vs {req}"
    apt = pinned_for(env, APT)
    assert chosen["numpy"] == apt["numpy"], f"{os_name}: lock numpy {chosen['numpy']}, apt {apt}"
    assert not chosen["onnxruntime"].startswith("1.21."), "1.21 dies with SIGILL on a Pi 4"


def test_trixie_takes_lgpio_from_apt_and_bookworm_from_the_lock():
    # No cp313 aarch64 lgpio wheel: Pi OS Trixie has python3-lgpio, which the venv sees.
    assert "lgpio" not in pinned_for(env_for("trixie"))
    assert "lgpio" in pinned_for(env_for("bookworm"))


@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_every_requirement_of_a_laptop_is_pinned_within_its_range(python):
    env = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "platform_machine": "x86_64",
        "sys_platform": "linux",
        "platform_system": "Linux",
    }
    chosen = pinned_for(env)
    for req in requirements(["train", "dev", "bench"]):
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in chosen, f"{name} has no pin for x86_64 Python {python}"
        assert Version(chosen[name]) in req.specifier, f"{name} {chosen[name]} vs {req}"


def test_this_run_has_the_locked_versions():
    """`make test` installed from the lock: every locked package here has the locked version."""
    chosen = pinned_for({})  # markers evaluated for this interpreter and machine
    wrong = []
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        want = chosen.get(name)
        # torch's local CPU build (2.13.0+cpu) is the locked 2.13.0
        if want is not None and Version(dist.version).public != Version(want).public:
            wrong.append(f"{name} {dist.version} (lock {want})")
    assert not wrong, "installed outside the lock: " + ", ".join(sorted(wrong))


def test_the_lock_holds_pins_only():
    """No pip options in the lock: a line like --index-url would send a root install elsewhere."""
    for n, line in enumerate(LOCK.read_text().splitlines(), 1):
        text = line.strip()
        assert not text.startswith("-"), f"{LOCK.name}:{n}: an option, not a pin: {text}"
        assert not text or text.startswith("#") or PIN.match(text), f"{LOCK.name}:{n}: {text}"


def test_every_install_path_uses_the_lock():
    make = (ROOT / "Makefile").read_text()
    installs = [ln for ln in make.splitlines() if "pip install" in ln or "$(PIP)" in ln]
    assert installs and all("$(PIP)" in ln or "-c $(LOCK)" in ln for ln in installs), installs
    for script in ["systemd/install.sh", "tests/pi/build-image.sh"]:
        assert "requirements.lock" in (ROOT / script).read_text(), script

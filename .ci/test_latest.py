"""`make test-latest`: the suite on the newest releases pyproject.toml allows, as a report.

In a throwaway venv (the lock and .venv stay as they are): install `.[train,dev]` without the
lock, list every package whose version differs from the lock, run the suite, and name the
upgraded package that breaks each failed test: the locked versions are put back one package at
a time (each kept back), and the tests that pass again are blamed on the package just put back.
Exit 0 when the newest releases pass, 1 when something broke, so a scheduled job shows drift as
a report before `make lock` takes it in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from pip._vendor.packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / ".ci" / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)\s*(?:;\s*(.+))?$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(venv_py: Path) -> dict[str, str]:
    """The lock's pins that apply to the venv's Python and platform (markers evaluated there)."""
    lines = []
    for raw in LOCK.read_text().splitlines():
        m = PIN.match(raw.strip())
        if m:
            lines.append([m.group(1), m.group(2), m.group(3) or ""])
    code = (
        "import json,sys\nfrom packaging.markers import Marker\n"
        "rows=json.load(sys.stdin)\n"
        "print(json.dumps({n: v for n, v, m in rows if not m or Marker(m).evaluate()}))"
    )
    out = subprocess.run(
        [str(venv_py), "-c", code], input=json.dumps(lines), text=True, capture_output=True
    )
    if out.returncode != 0:
        sys.exit(f"test-latest: cannot read {LOCK}: {out.stderr.strip()}")
    return {norm(k): v for k, v in json.loads(out.stdout).items()}


def installed(venv_py: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(venv_py), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {norm(p["name"]): p["version"] for p in json.loads(out)}


def pytest(venv: Path, args: list[str], xml: Path) -> set[str]:
    """Run pytest in the venv; the failed (or errored) test ids. A run pytest could not make
    (a conftest that fails to import, a broken plugin) is a failure too, never a pass."""
    cmd = [str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    rc = subprocess.run(cmd + args, cwd=ROOT).returncode
    failed = set()
    if xml.exists():
        for case in ET.parse(xml).iter("testcase"):
            if case.find("failure") is None and case.find("error") is None:
                continue
            cls, name = case.get("classname", ""), case.get("name", "?")
            if cls:
                failed.add(f"{cls.replace('.', '/')}.py::{name}")
            else:  # a module that fails to import: reported by its dotted name, rerun as a file
                failed.add(name.replace(".", "/") + ".py")
    if rc not in (0, 1, 5) and not failed:
        failed.add(f"(pytest exited {rc}: the suite did not run; see the output above)")
    return failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", metavar="DIR", help="make the venv here and keep it")
    ap.epilog = "Anything else goes to pytest as it is, e.g. -x tests/measuring (default: all)."
    a, a.pytest_args = ap.parse_known_args()
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="scopecount-latest-"))
    venv = work / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print(f"test-latest: newest releases in {venv}", flush=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--upgrade", "-e", f"{ROOT}[train,dev]"],
        check=True,
    )
    pins, now = locked(py), installed(py)
    # 2.13.0+cpu is the locked 2.13.0 (a local build of the same release)
    moved = {
        n: (pins[n], v)
        for n, v in now.items()
        if n in pins and Version(pins[n]).public != Version(v).public
    }
    print("\npackage                        lock            newest")
    for n, (old, new) in sorted(moved.items()):
        print(f"{n:30s} {old:15s} {new}")
    if not moved:
        print("(every package is at its locked version)")
    failed = pytest(venv, a.pytest_args, work / "latest.xml")
    # Put the locked versions back one package at a time, keeping each: the tests that pass
    # again are blamed on the package just put back (earlier ones already are).
    blame: dict[str, list[str]] = {}
    left = set(failed)
    for n, (old, new) in sorted(moved.items()):
        if not left:
            break
        # --no-deps: put back this one package, not what it would drag along
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--no-deps", f"{n}=={old}"], check=True
        )
        runnable = sorted(t for t in left if not t.startswith("("))
        if not runnable:
            break
        still = pytest(venv, runnable, work / f"back-{n}.xml") | (left - set(runnable))
        if left - still:
            blame[f"{n} {new} (lock {old})"] = sorted(left - still)
            left = still
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)  # the venv holds torch: gigabytes
    print("\ntest-latest report")
    if not failed:
        print(f"test-latest: the suite passes on the newest releases ({len(moved)} moved)")
        return 0
    for who, tests in blame.items():
        print(f"breaks {len(tests)} test(s): {who}")
        for t in tests:
            print(f"    {t}")
    if left:
        print(f"{len(left)} failed test(s) that no single package explains:")
        for t in sorted(left):
            print(f"    {t}")
    print(f"test-latest: {len(failed)} failed on the newest releases; the lock stays as it is")
    return 1


if __name__ == "__main__":
    os.environ.pop("PIP_CONSTRAINT", None)
    sys.exit(main())

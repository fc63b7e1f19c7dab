"""The emulated bench as `make pi-test` drives it: its config, its event stream read over SSH,
and the steps every scenario builds on (boot, install.sh, configure, press, the stick's records).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.pi.vm import VM, cache_for

REPO = Path(__file__).resolve().parents[2]
SRC = "/opt/scopecount/src"
VENV = "/opt/scopecount/venv/bin/scopecount"
# PI_TEST_REUSE=1 (developing this harness): boot the last run's disk, install.sh --no-pip.
REUSE = bool(os.environ.get("PI_TEST_REUSE"))
# PI_TEST_OFFLINE_PIP=1: install from the wheels cached in the image (no index), as before.
OFFLINE_PIP = bool(os.environ.get("PI_TEST_OFFLINE_PIP"))
HOST_CA = "/usr/local/share/host-ca.crt"
# libgpiod 2 (Debian 13) takes the chip with -c and marks a claimed line consumer="..."; libgpiod
# 1 (Debian 12) takes it as an argument and marks it [used].
GPIOINFO = "gpioinfo -c gpiochip0 2>/dev/null || gpioinfo gpiochip0"


def in_use(line: str) -> bool:
    return "[used" in line or "consumer=" in line


LIGHT_LINE, BUTTON_LINE = 4, 5  # PL061 lines (0-7; 3 is QEMU's power key)
KEY_LINE = 3  # the button row: QEMU's power key, high for 100 ms per system_powerdown


def vm_config(button: str = f"pin = {BUTTON_LINE}\nhold_s = 60.0") -> str:
    return f"""[bench]
name = "vm1"
[camera]
backend = "replay"
folder = "/var/lib/scopecount/replay"
[light]
pin = {LIGHT_LINE}
ready = 0.05
capture = 1.0
settle_ms = 4000
frequency = 10.0  # slow enough to sample under emulation
[button]
{button}
[storage]
path = "/media/scopecount"
spool = "/var/lib/scopecount/spool"
[model]
store = "/var/lib/scopecount/models"
threads = 2
[quality]
qr = false
"""


class Events:
    """The bench's events as they happen: `journalctl -f` over SSH, read here (outside the VM)."""

    def __init__(self, vm: VM) -> None:
        self.items: list[dict] = []
        self.cond = threading.Condition()
        self.proc = vm.stream("journalctl -u scopecount.service -o cat -f -n 0")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not line.startswith("{"):
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            ev["_host_t"] = time.monotonic()
            with self.cond:
                self.items.append(ev)
                self.cond.notify_all()

    def of(self, kind: str) -> list[dict]:
        with self.cond:
            return [e for e in self.items if e.get("event") == kind]

    def wait(self, kind: str, n: int, timeout: float = 300) -> list[dict]:
        end = time.monotonic() + timeout
        with self.cond:
            while len([e for e in self.items if e.get("event") == kind]) < n:
                left = end - time.monotonic()
                if left <= 0:
                    kinds = [e.get("event") for e in self.items]
                    raise AssertionError(f"waited for {n} {kind!r} events; got {kinds}")
                self.cond.wait(left)
        return self.of(kind)

    def close(self) -> None:
        self.proc.kill()


class Fallback(Exception):
    """A row that shows why it cannot run where the issue names that as its fallback (the
    camera where picamera2 cannot run on Debian's libcamera): not a failure, and says so."""


class Run:
    tag = "pi-test"  # how its progress lines start

    def __init__(self, image: str) -> None:
        self.image = image  # bookworm or trixie: every row names it
        self.rows: list[tuple[str, str, str]] = []  # scenario, PASS/FAIL/NOT RUN, figures
        self.figures: dict[str, str] = {}
        self.cache = cache_for(image)
        self.run = self.cache / "run"
        self.vm = VM(self.run, self.cache)

    def row(self, name: str, fn: Callable[[], str]) -> bool:
        name = f"{self.image} {name}"
        print(f"{self.tag}: {name} ...", flush=True)
        t0 = time.monotonic()
        try:
            note = fn()
            self.rows.append((name, "pass", note))
            ok = True
        except Fallback as e:
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # libcamera's log colours
            self.rows.append((name, "fallback", " ".join(text.split())))
            ok = True
        except Exception as e:
            traceback.print_exc()
            if self.vm.proc is not None:  # what the bench said, for the log
                log = self.vm.ssh(
                    "journalctl -u scopecount -u scopecount-tui -n 40 --no-pager", check=False
                )
                print(log.stdout.decode(errors="replace"), flush=True)
            why = " ".join(f"{type(e).__name__}: {e}".split())[:200]
            self.rows.append((name, "FAIL", why))
            ok = False
        print(f"{self.tag}: {name}: {self.rows[-1][1]} ({time.monotonic() - t0:.0f} s)", flush=True)
        return ok

    def skip(self, name: str, why: str) -> None:
        self.rows.append((f"{self.image} {name}", "NOT RUN", why))

    # -- steps ------------------------------------------------------------------------------
    def boot(self) -> str:
        if not (REUSE and self.vm.disk.exists()):
            self.vm.fresh_disk()
        secs = self.vm.boot()
        self.vm.ssh("systemctl is-system-running --wait", check=False, timeout=300)
        startup = self.vm.text("systemd-analyze time | head -n 1").strip()
        chip = self.vm.text("gpiodetect; gpioinfo gpiochip0 | head -n 1").strip()
        if "8 lines" not in chip:
            raise AssertionError(f"no 8-line PL061 gpiochip: {chip}")
        model = self.vm.text("tr -d '\\0' < /proc/device-tree/system/linux,revision | od -An -tx1")
        self.figures["boot"] = f"{secs:.0f} s to SSH ({startup})"
        return f"{secs:.0f} s to SSH; {startup}; revision {model.strip()}"

    def install(self) -> str:
        files = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        files = [f for f in files if (REPO / f).is_file()]
        self.vm.put_tree(REPO, SRC, files)
        self.configure()  # before install.sh, which keeps an existing config (as on a bench)
        t0 = time.monotonic()
        flags = " --no-pip" if REUSE else ""  # developing the harness: the venv is there
        # Online, as a Pi installs: pip against the real index (PIP_CONFIG_FILE=/dev/null drops
        # the image's find-links to its cached wheels; the CA is this machine's TLS proxy's).
        pip = "PIP_NO_INDEX=1" if OFFLINE_PIP else f"PIP_CONFIG_FILE=/dev/null PIP_CERT={HOST_CA}"
        out = self.vm.text(f"cd / && {pip} {SRC}/systemd/install.sh{flags} 2>&1", timeout=3600)
        secs = time.monotonic() - t0
        if "python3-picamera2 is not in this system's apt sources" not in out:
            raise AssertionError("install.sh did not say that python3-picamera2 is absent")
        shell = self.vm.text("getent passwd scopecount | cut -d: -f7").strip()
        if shell != "/bin/sh":
            raise AssertionError(f"service user shell {shell}")
        self.figures["install"] = f"{secs:.0f} s"
        how = "cached aarch64 wheels" if OFFLINE_PIP else "online, from PyPI"
        return f"install.sh {secs:.0f} s (pip {how}); user shell {shell}"

    def configure(self) -> None:
        demo = self.run / "replay"
        if not (demo / "images").is_dir():
            subprocess.run(
                [str(REPO / ".venv/bin/scopecount"), "demo", str(demo), "--images", "3"],
                check=True,
                capture_output=True,
            )
        self.vm.put_tree(
            demo / "images",
            "/var/lib/scopecount/replay",
            sorted(p.name for p in (demo / "images").iterdir()),
        )
        self.vm.ssh(
            "mkdir -p /etc/scopecount && cat > /etc/scopecount/config.toml",
            input=vm_config().encode(),
        )

    def led_duty(self, seconds: float, after_rise: float = 0.0) -> float:
        """Fraction of samples with the LED line high, as the kernel sees the PL061 line.

        `after_rise`: first wait up to this long for the line to go high (a press reaches the
        bench through systemd and a busy emulator: its latency is not what is measured here)."""
        sampler = (
            "import glob, time\n"
            "base = min(int(open(b).read()) for b in glob.glob('/sys/class/gpio/gpiochip*/base'))\n"
            f"tag = 'gpio-%d ' % (base + {LIGHT_LINE})\n"
            "def high():\n"
            "    return ' out hi' in [x for x in open('/sys/kernel/debug/gpio') if tag in x][0]\n"
            f"end = time.monotonic() + {after_rise}\n"
            "while time.monotonic() < end and not high():\n"
            "    pass\n"
            f"hi = n = 0; end = time.monotonic() + {seconds}\n"
            "while time.monotonic() < end:\n"
            "    hi += high(); n += 1\n"
            "print(hi, n)\n"
        )
        hi, n = map(int, self.vm.text(f"python3 -c {shlex.quote(sampler)}").split())
        return hi / max(n, 1)

    def press(self, n: int, stored_on: str | None = None) -> list[dict]:
        """n presses through systemd (SIGUSR1), each after the previous record."""
        got = []
        for _ in range(n):
            before = len(self.events.of("recorded"))
            self.vm.ssh("systemctl kill -s USR1 scopecount.service")
            got.append(self.events.wait("recorded", before + 1)[-1])
        if stored_on and any(e.get("stored") != stored_on for e in got):
            raise AssertionError(
                f"expected records on the {stored_on}: {[e.get('stored') for e in got]}"
            )
        return got

    def mounted(self, want: bool, timeout: float = 120) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            out = (
                self.vm.ssh(
                    "findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint /media/scopecount",
                    check=False,
                )
                .stdout.decode()
                .strip()
            )
            if bool(out) == want:
                return out
            time.sleep(1)
        raise AssertionError(f"/media/scopecount {'never mounted' if want else 'still mounted'}")

    def stick_records(self) -> list[dict]:
        out = self.vm.text(
            "cat /media/scopecount/scopecount/*/records.jsonl 2>/dev/null; "
            "cat /var/lib/scopecount/spool/scopecount/*/records.jsonl 2>/dev/null; true"
        )
        return [json.loads(line) for line in out.splitlines()]  # a torn line fails here

    def exactly_once(self, acked: list[dict]) -> None:
        recs = self.stick_records()
        keys = [(r["time"], r["sample"]) for r in recs]
        for e in acked:
            k = (e["time"], e["sample"])
            if keys.count(k) != 1:
                raise AssertionError(f"acknowledged record {k} found {keys.count(k)} times")

    def print_table(self) -> None:
        print("\n| scenario | result | notes |\n|---|---|---|")
        for name, res, note in self.rows:
            print(f"| {name} | {res} | {note} |")
        print(f"\nFigures, {self.image} (qemu TCG on this machine, emulated: not Pi figures):")
        for k, v in self.figures.items():
            print(f"  {k}: {v}")

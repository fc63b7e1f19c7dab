"""`make pi-test`: the bench installed by systemd/install.sh on an emulated Raspberry Pi.

Boots the image tests/pi/build-image.sh cached, installs the project as on a Pi, and runs the
scenarios of issue 13 with the units exactly as shipped. Prints a table and, last, the line
`pi-test: N passed, N failed`. All times are under TCG emulation, not Pi figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.pi.vm import CACHE, VM, button_dtb, fat_image

REPO = Path(__file__).resolve().parents[2]
SRC = "/opt/scopecount/src"
VENV = "/opt/scopecount/venv/bin/scopecount"
# PI_TEST_REUSE=1 (developing this harness): boot the last run's disk, install.sh --no-pip.
REUSE = bool(os.environ.get("PI_TEST_REUSE"))
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


class Run:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []  # scenario, PASS/FAIL/NOT RUN, figures
        self.figures: dict[str, str] = {}
        self.run = CACHE / "run"
        self.vm = VM(self.run)

    def row(self, name: str, fn: Callable[[], str]) -> bool:
        print(f"pi-test: {name} ...", flush=True)
        t0 = time.monotonic()
        try:
            note = fn()
            self.rows.append((name, "pass", note))
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
        print(f"pi-test: {name}: {self.rows[-1][1]} ({time.monotonic() - t0:.0f} s)", flush=True)
        return ok

    def skip(self, name: str, why: str) -> None:
        self.rows.append((name, "NOT RUN", why))

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
        out = self.vm.text(
            f"cd / && PIP_NO_INDEX=1 {SRC}/systemd/install.sh{flags} 2>&1", timeout=3600
        )
        secs = time.monotonic() - t0
        if "python3-picamera2 is not in this system's apt sources" not in out:
            raise AssertionError("install.sh did not say that python3-picamera2 is absent")
        shell = self.vm.text("getent passwd scopecount | cut -d: -f7").strip()
        if shell != "/bin/sh":
            raise AssertionError(f"service user shell {shell}")
        self.figures["install"] = f"{secs:.0f} s"
        return f"install.sh {secs:.0f} s (pip from cached aarch64 wheels); user shell {shell}"

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

    def led_duty(self, seconds: float) -> float:
        """Fraction of samples with the LED line high, as the kernel sees the PL061 line."""
        sampler = (
            "import glob, time\n"
            "base = min(int(open(b).read()) for b in glob.glob('/sys/class/gpio/gpiochip*/base'))\n"
            f"tag = 'gpio-%d ' % (base + {LIGHT_LINE})\n"
            f"hi = n = 0; end = time.monotonic() + {seconds}\n"
            "while time.monotonic() < end:\n"
            "    line = [x for x in open('/sys/kernel/debug/gpio') if tag in x][0]\n"
            "    hi += ' out hi' in line; n += 1\n"
            "print(hi, n)\n"
        )
        hi, n = map(int, self.vm.text(f"python3 -c {shlex.quote(sampler)}").split())
        return hi / max(n, 1)

    def scenario_a(self) -> str:
        t0 = time.monotonic()
        self.vm.ssh("systemctl restart scopecount.service", timeout=600)  # Type=notify: READY
        ready_s = time.monotonic() - t0
        self.figures["ready"] = f"{ready_s:.0f} s"
        info = self.vm.text("gpioinfo gpiochip0")
        claimed = [ln for ln in info.splitlines() if "[used" in ln]
        if not any(re.search(rf"line\s+{LIGHT_LINE}:.*output", ln) for ln in claimed):
            raise AssertionError(f"LED line {LIGHT_LINE} not claimed as output:\n{info}")
        if not any(re.search(rf"line\s+{BUTTON_LINE}:.*input", ln) for ln in claimed):
            raise AssertionError(f"button line {BUTTON_LINE} not claimed as input:\n{info}")
        ready = self.led_duty(2.0)
        self.events = Events(self.vm)
        time.sleep(2)
        self.vm.ssh("systemctl kill -s USR1 scopecount.service")
        capture = self.led_duty(1.0)  # inside settle_ms = 4000: the ring at full
        self.events.wait("recorded", 1)
        time.sleep(1)
        after = self.led_duty(1.5)
        sandbox = self.vm.text(
            "systemctl show scopecount -p NRestarts -p WorkingDirectory -p ActiveState"
        ).split()
        if "ActiveState=active" not in sandbox or "NRestarts=0" not in sandbox:
            raise AssertionError(f"service not steady: {sandbox}")
        if not (ready < 0.35 and capture > 0.9 and after < 0.35):
            raise AssertionError(
                f"LED duty ready {ready:.2f} capture {capture:.2f} after {after:.2f}"
            )
        return (
            f"READY in {ready_s:.0f} s under the full sandbox, lgpio on gpiochip0; LED duty "
            f"ready {ready:.2f}, capture {capture:.2f}, after {after:.2f}"
        )

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

    def scenario_b(self, fs: str) -> str:
        sid = "fat" if fs == "vfat" else "exfat"
        image = fat_image(self.run / f"{sid}.img", fs, partitioned=(fs == "vfat"))
        self.vm.plug(sid, image)
        src = self.mounted(True)
        uid = self.vm.text("id -u scopecount").strip()
        if fs not in src or f"uid={uid}" not in src:
            raise AssertionError(f"mounted as {src}")
        acked = self.press(3, "stick")
        self.vm.unplug(sid)
        self.mounted(False)
        acked += self.press(2, "spool")
        n_flushed = len(self.events.of("flushed"))
        self.vm.plug(sid, image)
        self.mounted(True)
        self.events.wait("flushed", n_flushed + 1, timeout=120)
        acked += self.press(1, "stick")
        self.exactly_once(acked)
        owner = self.vm.text("stat -c %U /media/scopecount/scopecount/*/records.jsonl").split()
        if set(owner) != {"scopecount"}:
            raise AssertionError(f"records owned by {owner}")
        ms = [e["ms"]["total"] for e in acked]
        self.figures.setdefault(
            "press",
            f"{statistics.median(ms):.0f} ms median (emulated; 4000 ms of it is the VM "
            "config's ring settle, kept long to sample the LED)",
        )
        self.vm.unplug(sid)
        self.mounted(False)
        return (
            f"{src.split()[0]} {fs}: 6 records (2 while pulled, flushed back), each once; "
            f"press-to-record {statistics.median(ms):.0f} ms median (emulated)"
        )

    def scenario_c(self, cuts: int = 5) -> str:
        image = self.run / "fat.img"
        acked: list[dict] = []
        rng = random.Random(13)
        for _ in range(cuts):
            self.vm.plug("fat", image)
            self.mounted(True)
            stop = threading.Event()

            def presses(stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    self.vm.ssh(
                        "systemctl kill -s USR1 scopecount.service", check=False, timeout=20
                    )
                    time.sleep(0.5)

            first = len(self.events.of("recorded"))
            threading.Thread(target=presses, daemon=True).start()
            self.events.wait("recorded", first + 1, timeout=300)
            time.sleep(rng.uniform(0.5, 9.0))  # any phase of a press (~6 s here)
            self.vm.kill9()
            stop.set()
            time.sleep(1)  # the last lines that left the VM before the cut
            acked += self.events.of("recorded")[first:]
            self.events.close()
            self.vm.boot(sticks={"fat": image})
            self.mounted(True)
            self.vm.ssh(
                "systemctl is-active --wait scopecount.service || "
                "systemctl restart scopecount.service",
                timeout=600,
            )
            self.events = Events(self.vm)
            self.vm.unplug("fat")
            self.mounted(False)
        self.vm.plug("fat", image)
        self.mounted(True)
        time.sleep(5)
        seen = {(e["time"], e["sample"]): e for e in acked}
        self.exactly_once(list(seen.values()))
        self.vm.unplug("fat")
        self.mounted(False)
        return (
            f"{cuts} power cuts (kill -9 of qemu) during presses: {len(seen)} acknowledged "
            "records, each exactly once, no torn line"
        )

    def scenario_d(self) -> str:
        key = self.run / "deploy_key"
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
        self.vm.ssh("cat > /tmp/deploy.pub", input=(key.with_suffix(".pub")).read_bytes())
        self.vm.ssh(
            "cd / && runuser -u scopecount -- /opt/scopecount/venv/bin/scopecount model "
            "authorize-key /tmp/deploy.pub --install "
            "--authorized-keys /var/lib/scopecount/.ssh/authorized_keys"
        )
        model = REPO / "models" / "drosophila-eggs-demo.float.onnx"
        sha = hashlib.sha256(model.read_bytes()).hexdigest()
        n = len(self.events.of("model"))
        out = subprocess.run(
            [
                str(REPO / ".venv/bin/scopecount"),
                "deploy",
                "scopecount@127.0.0.1",
                str(model),
                "--port",
                str(self.vm.port),
                "--identity",
                str(key),
                "--ssh-option",
                "StrictHostKeyChecking=no",
                "--ssh-option",
                "UserKnownHostsFile=/dev/null",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise AssertionError(f"deploy exited {out.returncode}: {out.stdout}{out.stderr}")
        ev = self.events.wait("model", n + 1, timeout=120)[-1]
        if ev.get("sha256") != sha:
            raise AssertionError(f"service switched to {ev}")
        listing = json.loads(
            self.vm.text(
                f"runuser -u scopecount -- {VENV} model list --json "
                "--store /var/lib/scopecount/models"
            )
        )
        if listing["active_sha256"] != sha:
            raise AssertionError(f"store active {listing['active_sha256']}")
        return f"deploy over SSH as scopecount (forced command, /bin/sh): service now {sha[:12]}"

    def scenario_e(self) -> str:
        self.events.close()
        self.vm.ssh(f"cd / && {SRC}/systemd/install.sh --tui --no-pip", timeout=600)
        end = time.monotonic() + 300
        screen = ""
        while time.monotonic() < end:
            screen = self.vm.ssh("cat /dev/vcs1", check=False).stdout.decode(errors="replace")
            if "drosophila" in screen:
                break
            time.sleep(5)
        first = "drosophila" in screen
        # And after a power cycle: the TUI unit, not getty, owns tty1 at boot.
        self.vm.poweroff()
        self.vm.boot()
        end = time.monotonic() + 300
        while time.monotonic() < end:
            screen = self.vm.ssh("cat /dev/vcs1", check=False).stdout.decode(errors="replace")
            if "drosophila" in screen:
                break
            time.sleep(5)
        active = self.vm.text(
            "systemctl is-active scopecount-tui.service; "
            "systemctl is-enabled scopecount.service || true"
        ).split()
        self.vm.ssh(f"cd / && {SRC}/systemd/install.sh --headless --no-pip", timeout=600)
        if active[:2] != ["active", "disabled"]:
            raise AssertionError(f"TUI unit {active}")
        if not first or "drosophila" not in screen:
            raise AssertionError(f"tty1 shows no bench: {screen.strip()[:200]!r}")
        return (
            "scopecount-tui on tty1 (read from /dev/vcs1) shows the bench, also after a power "
            "cycle; headless disabled"
        )

    def scenario_button(self, presses: int = 3) -> str:
        """QEMU's power key as the bench's button, read by lgpio on PL061 line 3.

        The key drives line 3 high for 100 ms of virtual time per system_powerdown
        (hw/input/gpio-key.c via hw/arm/virt.c), then low: an active-high button, so the
        config says pull_up = false. hold_s = 2 s is 20 times the pulse: a key event misread
        as a hold would void a record within the wait below.
        """
        hold_s = 2.0
        self.vm.ssh(
            "cat > /etc/scopecount/config.toml",
            input=vm_config(f"pin = {KEY_LINE}\npull_up = false\nhold_s = {hold_s}").encode(),
        )
        self.vm.poweroff()
        self.vm.boot(dtb=button_dtb())
        if self.vm.ssh("test -e /proc/device-tree/gpio-keys", check=False).returncode == 0:
            raise AssertionError("the VM still has a gpio-keys node")
        self.vm.ssh(
            "systemctl is-active --wait scopecount.service || systemctl restart scopecount.service",
            timeout=600,
        )
        info = self.vm.text("gpioinfo gpiochip0")
        line = next((ln for ln in info.splitlines() if re.search(rf"line\s+{KEY_LINE}:", ln)), "")
        if not ("input" in line and "[used" in line and "GPIO Key" not in line):
            raise AssertionError(f"line {KEY_LINE} not claimed by the bench as input: {line!r}")
        self.events = Events(self.vm)
        time.sleep(2)
        got = []
        for _ in range(presses):
            before = len(self.events.of("recorded"))
            t0 = time.monotonic()
            self.vm.power_key()
            ev = self.events.wait("recorded", before + 1, timeout=180)[-1]
            got.append((ev, ev["_host_t"] - t0))
        time.sleep(hold_s + 3)  # a hold would void the last record by now
        recorded, voided = self.events.of("recorded"), self.events.of("voided")
        if len(recorded) != presses or voided or self.events.of("refused"):
            kinds = [e.get("event") for e in self.events.items]
            raise AssertionError(f"{presses} key events gave {kinds}")
        if self.vm.proc is None or self.vm.proc.poll() is not None:
            raise AssertionError("the VM shut down on the power key")
        if self.vm.text("systemctl is-system-running || true").strip() == "stopping":
            raise AssertionError("systemd is shutting down on the power key")
        recs = {(r["time"], r["sample"]): r for r in self.stick_records()}
        sources = [recs.get((e["time"], e["sample"]), {}) for e, _ in got]
        if [r.get("source") for r in sources] != ["button"] * presses:
            raise AssertionError(f"records not from the button: {sources}")
        secs = statistics.median(s for _, s in got)
        return (
            f"{presses} system_powerdown (line {KEY_LINE} high 100 ms) gave {presses} records "
            f"from source button, no void, no shutdown; key-to-recorded {secs:.1f} s median "
            "(emulated); DTB without gpio-keys, revision a02100 (CM3+: no pull-up on GPIO3)"
        )

    # -- the whole run ----------------------------------------------------------------------
    def main(self) -> int:
        build = CACHE / "build-seconds"
        if build.exists():
            self.figures["image"] = f"{build.read_text().strip()} s (once, cached)"
        try:
            ok = self.row("boot (virt, Cortex-A72, PL061 gpiochip, Pi 4B revision)", self.boot)
            ok = ok and self.row("install.sh as on a Pi", self.install)
            if ok:
                a = self.row("a. READY under the sandbox, lgpio, LED follows", self.scenario_a)
                if a:
                    self.row(
                        "b. FAT32 stick: records, pulled and back", lambda: self.scenario_b("vfat")
                    )
                    self.row(
                        "b. exFAT stick (no partition table)", lambda: self.scenario_b("exfat")
                    )
                    self.row("c. 5 power cuts during presses", self.scenario_c)
                    self.row("d. deploy switches the running service", self.scenario_d)
                    self.row("e. TUI unit on tty1", self.scenario_e)
                    self.row("b. real button on a PL061 line", self.scenario_button)
            for name in ("a.", "b.", "c.", "d.", "e."):
                if not any(r[0].startswith(name) for r in self.rows):
                    self.skip(name, "not run (an earlier step failed)")
            if not any(r[0].startswith("b. real button") for r in self.rows):
                self.skip("b. real button on a PL061 line", "not run (an earlier step failed)")
        finally:
            self.vm.kill9()
        self.print_table()
        passed = sum(r[1] == "pass" for r in self.rows)
        failed = len(self.rows) - passed
        print(f"pi-test: {passed} passed, {failed} failed")
        return 0 if failed == 0 else 1

    def print_table(self) -> None:
        print("\n| scenario | result | notes |\n|---|---|---|")
        for name, res, note in self.rows:
            print(f"| {name} | {res} | {note} |")
        print("\nFigures (qemu TCG on this machine, emulated: not Pi figures):")
        for k, v in self.figures.items():
            print(f"  {k}: {v}")


if __name__ == "__main__":
    sys.exit(Run().main())

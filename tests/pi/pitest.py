"""`make pi-test`: the bench installed by systemd/install.sh on an emulated Raspberry Pi.

Boots the image tests/pi/build-image.sh cached, installs the project as on a Pi, and runs the
scenarios of a bench as installed, with the units exactly as shipped. Prints a table and, last,
the line `pi-test: N passed, N failed`. All times are under TCG emulation, not Pi figures.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time

from tests.pi.harness import (
    BUTTON_LINE,
    GPIOINFO,
    KEY_LINE,
    LIGHT_LINE,
    REPO,
    SRC,
    VENV,
    Events,
    Run,
    in_use,
    vm_config,
)
from tests.pi.vm import IMAGES, board_dtb, button_dtb, dtb_nodes, fat_image


class PiTest(Run):
    """The scenarios, in order, and the table."""

    def scenario_a(self) -> str:
        t0 = time.monotonic()
        self.vm.ssh("systemctl restart scopecount.service", timeout=600)  # Type=notify: READY
        ready_s = time.monotonic() - t0
        self.figures["ready"] = f"{ready_s:.0f} s"
        info = self.vm.text(GPIOINFO)
        claimed = [ln for ln in info.splitlines() if in_use(ln)]
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

    def scenario_b(self, fs: str) -> str:
        sid = {"vfat": "fat", "exfat": "exfat", "ntfs": "ntfs"}[fs]
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
        self.vm.boot(dtb=button_dtb(self.cache))
        if self.vm.ssh("test -e /proc/device-tree/gpio-keys", check=False).returncode == 0:
            raise AssertionError("the VM still has a gpio-keys node")
        self.vm.ssh(
            "systemctl is-active --wait scopecount.service || systemctl restart scopecount.service",
            timeout=600,
        )
        info = self.vm.text(GPIOINFO)
        line = next((ln for ln in info.splitlines() if re.search(rf"line\s+{KEY_LINE}:", ln)), "")
        if not ("input" in line and in_use(line) and "GPIO Key" not in line):
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

    # -- today's Pi (Trixie image) ---------------------------------------------------------
    def reboot_with(self, config: str | None = None, **boot: object) -> None:
        """Power off, (re)write the config, boot with `boot` (dtb, offline, extra), READY."""
        self.events.close()
        self.vm.ssh("cat > /etc/scopecount/config.toml", input=(config or vm_config()).encode())
        self.vm.poweroff()
        self.vm.boot(**boot)  # type: ignore[arg-type]
        self.vm.ssh(
            "systemctl is-active --wait scopecount.service || systemctl restart scopecount.service",
            timeout=600,
        )
        self.events = Events(self.vm)
        time.sleep(2)

    def doctor(self, check: str) -> str:
        # lgpio makes its notification FIFO in the working directory: the state folder, as the
        # units have it (from / it fails with ENOENT on .lgd-nfy*)
        out = self.vm.text(
            "cd /var/lib/scopecount && runuser -u scopecount -- "
            f"{VENV} doctor --config /etc/scopecount/config.toml 2>&1; true"
        )
        return next((ln for ln in out.splitlines() if check in ln), f"(no {check} line: {out})")

    def scenario_pi5(self) -> str:
        """A Pi 5 revision: the bench finds the header's chip by its label, with no config
        change, and with the chip named in the config."""
        self.reboot_with(dtb=board_dtb(self.cache, "pi5", "d04170"))
        self.press(1)
        gpio = self.doctor("gpio")
        if "d04170" not in gpio or "pl061" not in gpio:
            raise AssertionError(f"doctor on a Pi 5 revision: {gpio}")
        label = re.search(r"\[([^\]]*pl061)\]", gpio)
        named = vm_config() + f'[gpio]\nchip = "{label.group(1) if label else "0"}"\n'
        self.reboot_with(named, dtb=board_dtb(self.cache, "pi5", "d04170"))
        self.press(1)
        return f"revision d04170: READY and presses, chip auto and named; doctor: {gpio.strip()}"

    def scenario_clock(self) -> str:
        """Offline, no real-time clock: records say 'clock' until the time is set by hand."""
        drop = tuple(dtb_nodes(self.cache / "virt.dtb", "pl031"))
        self.reboot_with(dtb=board_dtb(self.cache, "nortc", "c03111", drop), offline=True)
        if self.vm.ssh("ls /sys/class/rtc/rtc0", check=False).returncode == 0:
            raise AssertionError("the VM still has a real-time clock")
        vm_day = self.vm.text("date -u +%F").strip()
        before = self.press(1)[0]
        status = self.doctor("clock")
        if "clock" not in before.get("flags", []):
            raise AssertionError(f"a record on an unknown clock was not flagged: {before}")
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        self.vm.ssh(f"/opt/scopecount/venv/bin/scopecount clock set {now}")
        after = self.press(1)[0]
        if "clock" in after.get("flags", []) or not after["time"].startswith(now[:10]):
            raise AssertionError(f"after clock set: {after}")
        return (
            f"no RTC, no network: VM booted at {vm_day}, record flagged clock ({status.strip()});"
            f" after `scopecount clock set`: unflagged, dated {after['time'][:10]}"
        )

    def scenario_watchdog(self) -> str:
        """The hardware watchdog (i6300esb here, bcm2835-wdt on a Pi), petted by systemd."""
        self.reboot_with(extra=["-device", "i6300esb"])
        dev = self.vm.text("cat /sys/class/watchdog/watchdog0/identity 2>&1; true").strip()
        usec = self.vm.text("systemctl show -p RuntimeWatchdogUSec --value").strip()
        state = self.vm.text("cat /sys/class/watchdog/watchdog0/state 2>&1; true").strip()
        if usec not in ("15s", "15000000") or state != "active":
            raise AssertionError(f"watchdog {dev!r}: RuntimeWatchdogUSec={usec}, state {state}")
        return f"{dev}: systemd pets it (RuntimeWatchdogUSec={usec}, state {state})"

    def todays_pi(self) -> None:
        self.row("f. NTFS stick (ntfs3)", lambda: self.scenario_b("ntfs"))
        self.row("g. Pi 5 revision: the header's chip found by its label", self.scenario_pi5)
        self.row("h. offline, no RTC: records flagged clock until set", self.scenario_clock)
        self.row("i. hardware watchdog", self.scenario_watchdog)

    # -- the whole run ----------------------------------------------------------------------
    def main(self) -> tuple[int, int]:
        build = self.cache / "build-seconds"
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
                    if self.image == "trixie":
                        self.todays_pi()
            for name in ("a.", "b.", "c.", "d.", "e."):
                if not any(r[0].startswith(f"{self.image} {name}") for r in self.rows):
                    self.skip(name, "not run (an earlier step failed)")
            if self.image == "trixie":
                for name in ("f.", "g.", "h.", "i."):
                    if not any(r[0].startswith(f"{self.image} {name}") for r in self.rows):
                        self.skip(name, "not run (an earlier step failed)")
            if not any(r[0].startswith(f"{self.image} b. real button") for r in self.rows):
                self.skip("b. real button on a PL061 line", "not run (an earlier step failed)")
        finally:
            self.vm.kill9()
        self.print_table()
        return sum(r[1] == "pass" for r in self.rows), sum(r[1] != "pass" for r in self.rows)


def main(argv: list[str]) -> int:
    images = argv or list(IMAGES)
    unknown = [i for i in images if i not in IMAGES]
    if unknown:
        print(f"pi-test: unknown image {unknown[0]!r} (one of {', '.join(IMAGES)})")
        return 2
    passed = failed = 0
    for image in images:
        p, f = PiTest(image).main()
        print(f"pi-test: {image}: {p} passed, {f} failed", flush=True)
        passed, failed = passed + p, failed + f
    print(f"pi-test: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

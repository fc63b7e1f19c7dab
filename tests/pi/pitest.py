"""`make pi-test`: the bench installed by systemd/install.sh on an emulated Raspberry Pi.

Boots the image tests/pi/build-image.sh cached, installs the project as on a Pi, and runs the
scenarios of a bench as installed, with the units exactly as shipped. Prints a table and, last,
the line `pi-test: N passed, N failed`. All times are under TCG emulation, not Pi figures.
"""

from __future__ import annotations

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
    in_use,
    vm_config,
)
from tests.pi.todays_pi import TodaysPi
from tests.pi.vm import IMAGES, button_dtb, fat_image


class PiTest(TodaysPi):
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
        capture = self.led_duty(1.0, after_rise=2.5)  # within settle_ms = 4000: at full
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
        n = len(self.events.of("model"))
        sha = self.deploy(REPO / "models" / "drosophila-eggs-demo.float.onnx")
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

    def scenario_d_areas(self) -> str:
        """An areas and a landmarks model deployed over SSH, a press with each, then `model
        rollback` twice: the counter the earlier scenarios deployed is active again."""
        from tests.support.onnx_fixtures import (  # onnx: `make pi-test` installs it
            colour_areas_model,
            colour_landmarks_model,
        )

        n = len(self.events.of("model"))
        before = self.events.of("model")[-1].get("sha256")
        got = []
        models = (("areas", colour_areas_model()), ("landmarks", colour_landmarks_model()))
        for name, data in models:
            path = self.run / f"colour-{name}.onnx"
            path.write_bytes(data)
            sha = self.deploy(path)
            n += 1
            if self.events.wait("model", n, timeout=120)[-1].get("sha256") != sha:
                raise AssertionError(f"the service did not switch to the {name} model")
            ev = self.press(1)[0]
            if ev.get("task") != name or name not in ev:
                raise AssertionError(f"recorded {ev}")
            got.append(ev)
        days = "/media/scopecount/scopecount/* /var/lib/scopecount/spool/scopecount/*"
        out = self.vm.text(
            f"for d in {days}; do ls $d/masks/; cat $d/classes.csv $d/areas.csv "
            "$d/centroid_sizes.csv; done 2>/dev/null; true"
        )
        areas, marks = got
        if f"{areas['id']}.png" not in out or "red" not in out or f"{marks['id']}," not in out:
            raise AssertionError(f"no mask, classes or centroid size on the stick: {out[-300:]!r}")
        for _ in range(2):
            self.vm.ssh(
                f"cd / && runuser -u scopecount -- {VENV} model rollback "
                "--store /var/lib/scopecount/models"
            )
        back = self.events.wait("model", n + 2, timeout=120)[-1]
        if back.get("sha256") != before:
            raise AssertionError(f"two rollbacks left {back.get('sha256')} active")
        shares = ", ".join(f"{c} {100 * f:.1f}%" for c, f in areas["areas"].items())
        found = sum(p is not None for p in marks["landmarks"])
        return (
            f"areas model: {shares}, mask on the stick; landmarks model: {found} of "
            f"{len(marks['landmarks'])} landmarks, centroid size {marks.get('centroid_size')}; "
            "rolled back twice to the counter"
        )

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
                    if self.row("d. deploy switches the running service", self.scenario_d):
                        self.row("d. areas and landmarks models, pressed", self.scenario_d_areas)
                    self.row("e. TUI unit on tty1", self.scenario_e)
                    self.row("b. real button on a PL061 line", self.scenario_button)
                    if self.image == "trixie":
                        self.row("f. NTFS stick (ntfs3)", lambda: self.scenario_b("ntfs"))
                        self.todays_pi()
            for name in ("a.", "b.", "c.", "d.", "e."):
                if not any(r[0].startswith(f"{self.image} {name}") for r in self.rows):
                    self.skip(name, "not run (an earlier step failed)")
            if self.image == "trixie":
                for name in ("f.", "g.", "h.", "i.", "j.", "k.", "l."):
                    if not any(r[0].startswith(f"{self.image} {name}") for r in self.rows):
                        self.skip(name, "not run (an earlier step failed)")
            if not any(r[0].startswith(f"{self.image} b. real button") for r in self.rows):
                self.skip("b. real button on a PL061 line", "not run (an earlier step failed)")
        finally:
            self.vm.kill9()
        self.print_table()
        passed = sum(r[1] in ("pass", "fallback") for r in self.rows)
        return passed, len(self.rows) - passed


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

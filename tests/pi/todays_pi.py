"""The rows of `make pi-test` that only the Trixie image runs: the Pi a lab buys today.

A Pi 5 revision, a Zero 2 W's memory and cores, no network and no real-time clock, the hardware
watchdog, and a slow stick under a spool of 500 records. Each row boots the VM as that board.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import threading
import time
from pathlib import Path

from tests.pi.harness import REPO, VENV, Events, Fallback, Run, vm_config
from tests.pi.vm import ZERO_2W, board_dtb, dtb_nodes, fat_image, zero_dtb

STATE = "/var/lib/scopecount"
WATCHDOG = ["-device", "i6300esb"]  # a Pi's bcm2835-wdt stands in
PY = "/opt/scopecount/venv/bin/python"

# Seeds the spool as the bench's own Recorder would (service stopped, stick out): a tiny image
# per record keeps the seeding quick; the flush still writes image, line and CSV row for each.
SEED = """
import json, sys
import numpy as np
from device.records.recorder import Recorder
r = Recorder("/media/scopecount", "/var/lib/scopecount/spool", bench="vm1")
rgb = np.full((24, 32, 3), 128, np.uint8)
for i in range(int(sys.argv[1])):
    rec = r.write(rgb, {"egg": i}, [], ["egg"], f"seed-{i:03d}", "seed", "0" * 64, [])
    print(json.dumps({"time": rec.time, "sample": rec.sample, "stored": rec.stored}))
"""


# libcamera 0.4 reads its virtual camera from here only (pipeline_handler.cpp); Debian ships none.
VIRTUAL_DIR = "/usr/share/libcamera/pipeline/virtual"
VIRTUAL_YAML = """%YAML 1.1
---
"Virtual0":
  supported_formats:
    - width: 640
      height: 480
      frame_rates: [30]
  test_pattern: "bars"
  location: "CameraLocationFront"
  model: "Virtual Video Device"
"""
CAMERA_STACK = (
    "dpkg-query -W -f='libcamera ${Version} ' libcamera0.4; "
    'python3 -c \'import importlib.metadata as m; print("picamera2", m.version("picamera2"))\''
    "; LIBCAMERA_LOG_LEVELS=ERROR python3 -c 'import libcamera; "
    'print("cameras", [c.id for c in libcamera.CameraManager.singleton().cameras])\' 2>&1; true'
)


class TodaysPi(Run):
    """Rows f. to k.; PiTest runs them after the rows both images share."""

    def reboot_with(self, config: str | None = None, **boot: object) -> None:
        """Power off, (re)write the config, boot with `boot` (dtb, offline, extra, board), READY."""
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
            f"cd {STATE} && runuser -u scopecount -- "
            f"{VENV} doctor --config /etc/scopecount/config.toml 2>&1; true"
        )
        return next((ln for ln in out.splitlines() if check in ln), f"(no {check} line: {out})")

    def steady(self) -> str:
        """The service never restarted and the kernel never ran the OOM killer; its peak memory."""
        show = self.vm.text("systemctl show scopecount -p NRestarts -p MemoryPeak -p ActiveState")
        props = dict(ln.split("=", 1) for ln in show.split() if "=" in ln)
        oom = self.vm.text("journalctl -k -b --no-pager | grep -ci 'out of memory' ; true").strip()
        if props.get("NRestarts") != "0" or props.get("ActiveState") != "active":
            raise AssertionError(f"service not steady: {props}")
        if oom not in ("", "0"):
            raise AssertionError(f"the OOM killer ran {oom} times")
        peak = props.get("MemoryPeak", "")
        return f"{int(peak) / 2**20:.0f} MiB" if peak.isdigit() else "not reported"

    def restart_with(self, config: str) -> None:
        """The service restarted with another config (no power cycle)."""
        self.events.close()
        self.vm.ssh("cat > /etc/scopecount/config.toml", input=config.encode())
        self.vm.ssh("systemctl restart scopecount.service", timeout=600)  # Type=notify: READY
        self.events = Events(self.vm)
        time.sleep(2)

    def scenario_pi5(self) -> str:
        """A Pi 5 revision: the bench finds the header's chip by its label, with no config
        change, and with the chip named in the config. The board also has a hardware
        watchdog (the next row checks it on this boot)."""
        self.reboot_with(dtb=board_dtb(self.cache, "pi5", "d04170"), extra=WATCHDOG)
        self.press(1)
        gpio = self.doctor("gpio")
        if "d04170" not in gpio or "pl061" not in gpio:
            raise AssertionError(f"doctor on a Pi 5 revision: {gpio}")
        label = re.search(r"\[([^\]]*pl061)\]", gpio)
        self.restart_with(vm_config() + f'[gpio]\nchip = "{label.group(1) if label else "0"}"\n')
        self.press(1)
        named = self.doctor("gpio")
        self.restart_with(vm_config())
        if "pl061" not in named:
            raise AssertionError(f"doctor with the chip named: {named}")
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
        """The hardware watchdog (i6300esb here, bcm2835-wdt on a Pi), petted by systemd: on
        the Pi 5 row's boot, which has one (a boot of its own cost a minute)."""
        if "i6300esb" not in " ".join(self.vm.booted_with):
            raise AssertionError("not booted with a watchdog (run after the Pi 5 row)")
        dev = self.vm.text("cat /sys/class/watchdog/watchdog0/identity 2>&1; true").strip()
        usec = self.vm.text("systemctl show -p RuntimeWatchdogUSec --value").strip()
        state = self.vm.text("cat /sys/class/watchdog/watchdog0/state 2>&1; true").strip()
        if usec not in ("15s", "15000000") or state != "active":
            raise AssertionError(f"watchdog {dev!r}: RuntimeWatchdogUSec={usec}, state {state}")
        return f"{dev}: systemd pets it (RuntimeWatchdogUSec={usec}, state {state})"

    def scenario_camera(self) -> str:
        """Picamera2Camera on libcamera's `virtual` camera, under the unit's sandbox: a press
        gives a record from it. Where picamera2 cannot run on Debian's libcamera at all, the row
        shows the bench's error, doctor's camera line and the versions (the issue's fallback)."""
        self.vm.ssh(
            f"mkdir -p {VIRTUAL_DIR} && cat > {VIRTUAL_DIR}/virtual.yaml",
            input=VIRTUAL_YAML.encode(),
        )
        stack = " ".join(self.vm.text(CAMERA_STACK).split())
        replay = 'backend = "replay"\nfolder = "/var/lib/scopecount/replay"'
        config = vm_config().replace(replay, 'backend = "picamera2"')
        self.events.close()
        self.vm.ssh("cat > /etc/scopecount/config.toml", input=config.encode())
        try:
            restart = self.vm.ssh("systemctl restart scopecount.service", check=False, timeout=600)
            doctor = " ".join(self.doctor("camera").split())
            if restart.returncode == 0:
                self.events = Events(self.vm)
                time.sleep(2)
                rec = self.press(1)[0]
                ready = self.vm.text(
                    "journalctl -u scopecount -b -o cat | grep -m1 -o 'picamera2 [^\"]*'; true"
                )
                return (
                    f"a press recorded {rec.get('id')} from {ready.strip() or 'picamera2'} "
                    f"under the sandbox; {stack}; doctor: {doctor}"
                )
            said = self.vm.text(
                "journalctl -u scopecount -b -o cat --no-pager | grep -m1 'camera:'; true"
            ).strip()
            raise Fallback(
                f"picamera2 cannot run on Debian's libcamera ({stack}): the bench says "
                f"{said[:220] or '(nothing)'}; doctor: {doctor[:160]}"
            )
        finally:
            self.vm.ssh("systemctl reset-failed scopecount.service", check=False)
            self.restart_with(vm_config())

    def scenario_zero(self) -> str:
        """A Zero 2 W (four A53 cores, 448 MiB): presses while `deploy` swaps the model, then a
        `model receive`, with no restart and no OOM killer."""
        self.reboot_with(dtb=zero_dtb(self.cache), board=ZERO_2W)
        mem = self.vm.text("free -m | awk '/^Mem/ {print $2}'").strip()
        cores = self.vm.text("nproc").strip()
        if cores != "4" or not mem.isdigit() or int(mem) > 448:
            raise AssertionError(f"not a Zero 2 W's board: {cores} cores, {mem} MiB")
        first = self.press(1)[0]
        stop = threading.Event()

        def presses() -> None:
            while not stop.is_set():
                self.vm.ssh("systemctl kill -s USR1 scopecount.service", check=False, timeout=20)
                time.sleep(1.0)

        n_models = len(self.events.of("model"))
        n_rec = len(self.events.of("recorded"))
        thread = threading.Thread(target=presses, daemon=True)
        thread.start()
        try:
            sha = self.deploy(REPO / "models" / "drosophila-eggs-demo.onnx")
            self.events.wait("model", n_models + 1, timeout=300)
        finally:
            stop.set()
            thread.join(timeout=30)
        during = self.events.of("recorded")[n_rec:]
        float_model = REPO / "models" / "drosophila-eggs-demo.float.onnx"
        self.vm.ssh(
            f"cd {STATE} && runuser -u scopecount -- {VENV} model receive --store {STATE}/models",
            input=float_model.read_bytes(),
            timeout=900,
        )
        ev = self.events.wait("model", n_models + 2, timeout=300)[-1]
        if ev.get("sha256") != hashlib.sha256(float_model.read_bytes()).hexdigest():
            raise AssertionError(f"receive: the service switched to {ev}")
        last = self.press(1)[0]
        self.exactly_once([first, *self.events.of("recorded")[n_rec:], last])
        peak = self.steady()
        return (
            f"{cores} A53 cores, {mem} MiB: a count, {len(during)} presses during deploy "
            f"({sha[:12]}), a receive, each record once; no restart, no OOM; peak {peak}"
        )

    def deploy(self, path: Path) -> str:
        """`scopecount deploy` from this machine with the key scenario d authorised."""
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        out = subprocess.run(
            [
                str(REPO / ".venv/bin/scopecount"),
                "deploy",
                "scopecount@127.0.0.1",
                str(path),
                "--port",
                str(self.vm.port),
                "--identity",
                str(self.run / "deploy_key"),
                "--ssh-option",
                "StrictHostKeyChecking=no",
                "--ssh-option",
                "UserKnownHostsFile=/dev/null",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if out.returncode != 0:
            raise AssertionError(f"deploy exited {out.returncode}: {out.stdout}{out.stderr}")
        return sha

    def scenario_slow_stick(self, seeded: int = 500, presses: int = 3) -> str:
        """500 records in the spool, a stick throttled to 20 writes a second, presses during
        the flush: all of them on the stick once, and the service never restarted."""
        self.events.close()
        self.vm.ssh("systemctl stop scopecount.service")
        out = self.vm.text(
            f"cd /opt/scopecount && runuser -u scopecount -- {PY} -c {shlex.quote(SEED)} {seeded}",
            timeout=1800,
        )
        seeds = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
        if len(seeds) != seeded or {s["stored"] for s in seeds} != {"spool"}:
            raise AssertionError(f"seeding gave {len(seeds)} records: {out[-300:]}")
        self.vm.ssh("systemctl start scopecount.service", timeout=600)
        self.events = Events(self.vm)
        time.sleep(2)
        image = fat_image(self.run / "slow.img", "vfat", partitioned=True)
        t0 = time.monotonic()
        self.vm.plug("slow", image, ",throttling.iops-write=20")
        self.mounted(True)
        self.events.wait("flushed", 1, timeout=300)
        acked = self.press(presses)
        end = time.monotonic() + 1800
        while self.vm.text(
            f"cat {STATE}/spool/scopecount/*/records.jsonl 2>/dev/null | wc -l"
        ).strip() not in ("0", ""):
            if time.monotonic() > end:
                raise AssertionError("the spool did not empty in 30 minutes")
            time.sleep(10)
        flush_s = time.monotonic() - t0
        self.exactly_once([*seeds, *acked])
        peak = self.steady()
        slices = len(self.events.of("flushed"))
        self.vm.unplug("slow")
        self.mounted(False)
        return (
            f"{seeded} spooled records flushed to a stick at 20 writes/s in {flush_s:.0f} s "
            f"({slices} slices) with {presses} presses during it, each once; NRestarts=0; "
            f"peak {peak}"
        )

    def todays_pi(self) -> None:
        self.row("g. Pi 5 revision: the header's chip found by its label", self.scenario_pi5)
        self.row("i. hardware watchdog", self.scenario_watchdog)
        self.row("l. camera: picamera2 on libcamera's virtual camera", self.scenario_camera)
        self.row("h. offline, no RTC: records flagged clock until set", self.scenario_clock)
        self.row("j. Zero 2 W: deploy during presses, receive, no OOM", self.scenario_zero)
        self.row("k. slow stick: 500 spooled, presses during flush", self.scenario_slow_stick)

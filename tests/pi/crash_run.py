"""The bench as installed on the emulated Trixie Pi, with every disk it writes behind the
kernel's dm-log-writes target: the workload of `make pi-crash`.

Four data disks (a FAT32, an exFAT and an ext4 stick, and an ext4 "SD card" holding the state
directory: spool, model store, replay images), each logged to its own log disk. The sticks are
mounted by the bench's own helper (scopecount-stick add /dev/mapper/...: a device-mapper node is
not on the USB bus, so the udev rule would not see it). A root helper in the VM follows the
service's journal and, for every acknowledgement (recorded, voided, flushed), marks every log
with `ack:N` (a mark is one word); an acknowledged model install is marked `model:SHA` by the
command that made it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

from tests.pi.harness import REPO, Events, vm_config
from tests.pi.todays_pi import STATE, VENV, TodaysPi
from tests.pi.vm import fat_image

DEVICES = ("vfat", "exfat", "ext4", "sd")  # the sticks, then the SD card's state directory
DATA_MB = {"vfat": 64, "exfat": 64, "ext4": 64, "sd": 256}
LOG_MB = 2048  # sparse: what the run writes, with every block's data
STICK = "/usr/local/lib/scopecount/scopecount-stick"

MARKER = r"""
import json, subprocess, time
out = open("/root/marks.jsonl", "a", buffering=1)
journal = subprocess.Popen(
    ["journalctl", "-u", "scopecount.service", "-o", "json", "-f", "-n", "0"],
    stdout=subprocess.PIPE, text=True)
n = 0
for line in journal.stdout:
    try:
        entry = json.loads(line)
        msg = entry.get("MESSAGE")
        if isinstance(msg, list):
            msg = bytes(msg).decode(errors="replace")
        ev = json.loads(msg) if isinstance(msg, str) and msg.startswith("{") else {}
    except ValueError:
        continue
    if ev.get("event") not in ("recorded", "voided", "flushed"):
        continue
    n += 1
    ls = subprocess.run(["dmsetup", "ls", "--target", "log-writes"], capture_output=True, text=True)
    devices = [ln.split()[0] for ln in ls.stdout.splitlines() if ln.strip()]
    for d in devices:
        subprocess.run(["dmsetup", "message", d, "0", "mark", f"ack:{n}"], check=True)
    out.write(json.dumps({"n": n, "event": ev, "devices": devices,
                          "journal_us": int(entry["__REALTIME_TIMESTAMP"]),
                          "marked_us": time.time_ns() // 1000}) + "\n")
"""


def make_data_disk(name: str, path: Path) -> Path:
    """The file system as a stick or an SD card comes: made here, before any logging."""
    if name in ("vfat", "exfat"):
        return fat_image(path, name, partitioned=False, mb=DATA_MB[name])
    with open(path, "wb") as f:
        f.truncate(DATA_MB[name] * 2**20)
    label = "SCOPE" if name == "ext4" else "SDSTATE"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", label, str(path)], check=True)
    return path


class CrashRun(TodaysPi):
    """Boots with the logged disks, installs, runs the workload, hands back the logs."""

    tag = "pi-crash"

    def __init__(self, image: str = "trixie") -> None:
        super().__init__(image)
        self.run = self.cache / "crash"
        self.vm.run = self.run
        self.vm.disk = self.run / "disk.qcow2"
        self.run.mkdir(parents=True, exist_ok=True)
        self.marked = 0
        self.phases: dict[str, dict] = {}

    def base(self, name: str) -> Path:
        return self.run / f"base-{name}.img"

    def log_path(self, name: str) -> Path:
        return self.run / f"log-{name}.img"

    # -- the VM -----------------------------------------------------------------------------
    def boot_logged(self) -> str:
        extra: list[str] = []
        for name in DEVICES:
            data = make_data_disk(name, self.run / f"data-{name}.img")
            subprocess.run(["cp", "--sparse=always", str(data), str(self.base(name))], check=True)
            log = self.log_path(name)
            log.unlink(missing_ok=True)
            with open(log, "wb") as f:
                f.truncate(LOG_MB * 2**20)
            for kind, file in (("crash", data), ("crashlog", log)):
                drive = f"if=none,id={kind}-{name},file={file},format=raw,cache=unsafe"
                device = f"virtio-blk-pci,drive={kind}-{name},serial={kind}-{name}"
                extra += ["-drive", drive, "-device", device]
        self.vm.fresh_disk()
        secs = self.vm.boot(extra=extra)
        self.vm.ssh("systemctl is-system-running --wait", check=False, timeout=300)
        self.vm.ssh("modprobe dm-log-writes")
        self.logged("sd")
        self.vm.ssh(f"mkdir -p {STATE} && mount -o noatime /dev/mapper/crash-sd {STATE}")
        self.vm.ssh("cat > /root/marker.py", input=MARKER.encode())
        self.vm.ssh("systemd-run --unit=crash-marker python3 /root/marker.py")
        kernel = self.vm.text("uname -r").strip()
        return f"{secs:.0f} s to SSH; kernel {kernel}; the SD card's state directory logged"

    def logged(self, name: str) -> None:
        """The device behind a log-writes target, /dev/mapper/crash-NAME: a stick's from when
        it is plugged in until it is pulled for good, so its log holds its own marks only."""
        data = f"/dev/disk/by-id/virtio-crash-{name}"
        log = f"/dev/disk/by-id/virtio-crashlog-{name}"
        table = f"0 $(blockdev --getsz {data}) log-writes {data} {log}"
        self.vm.ssh(f'dmsetup create crash-{name} --table "{table}"')

    def wait_marked(self, n: int, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.vm.text("cat /root/marks.jsonl 2>/dev/null | wc -l").strip()
            if got.isdigit() and int(got) >= n:
                self.marked = int(got)
                return
            time.sleep(0.5)
        why = self.vm.text("journalctl -u crash-marker --no-pager -n 20; true")
        raise AssertionError(f"the marker marked {got} acknowledgements, not {n}: {why}")

    def acks(self) -> int:
        return sum(len(self.events.of(k)) for k in ("recorded", "voided", "flushed"))

    def start_bench(self) -> None:
        self.vm.ssh("cat > /etc/scopecount/config.toml", input=vm_config().encode())
        self.vm.ssh("systemctl restart scopecount.service", timeout=600)
        self.events = Events(self.vm)
        time.sleep(2)

    # -- the workload ------------------------------------------------------------------------
    def stick_phase(self, fs: str) -> str:
        """Presses on the stick, a void, presses spooled while it is out, the flush when it is
        back, a press after; then the stick is unmounted and its log closed."""
        dev = f"/dev/mapper/crash-{fs}"
        self.logged(fs)
        self.vm.ssh(f"{STICK} add {dev}")
        src = self.mounted(True)
        on_stick = self.press(3, "stick")
        n_void = len(self.events.of("voided"))
        self.vm.ssh("systemctl kill -s USR2 scopecount.service")
        voided = self.events.wait("voided", n_void + 1)[-1]
        if voided["id"] != on_stick[-1]["id"]:
            raise AssertionError(f"voided {voided['id']}, not the last record")
        self.wait_marked(self.acks())
        self.vm.ssh(f"{STICK} remove {dev}")
        self.mounted(False)
        spooled = self.press(2, "spool")
        n_flushed = len(self.events.of("flushed"))
        self.vm.ssh(f"{STICK} add {dev}")
        self.mounted(True)
        self.events.wait("flushed", n_flushed + 1, timeout=180)
        after = self.press(1, "stick")
        self.wait_marked(self.acks())
        self.vm.ssh(f"{STICK} remove {dev}")
        self.mounted(False)
        self.vm.ssh(f"dmsetup remove crash-{fs}")
        self.phases[fs] = {"stick": on_stick + after, "spooled": spooled}
        return f"{src.split()[0]} {fs}: 4 presses on the stick, a void, 2 spooled and flushed"

    def model_install(self) -> str:
        """A model received into the store (SD card) while the bench runs; marked once the
        command has returned (its acknowledgement)."""
        # not the model install.sh made active (a model sent again changes nothing)
        model = REPO / "models" / "drosophila-eggs-demo.float.onnx"
        sha = hashlib.sha256(model.read_bytes()).hexdigest()
        n_models = len(self.events.of("model"))
        cmd = (
            f"cd {STATE} && runuser -u scopecount -- {VENV} model receive --store {STATE}/models"
            " && for d in $(dmsetup ls --target log-writes | cut -f1); do "
            f"dmsetup message $d 0 mark model:{sha}; done"
        )
        self.vm.ssh(cmd, input=model.read_bytes(), timeout=900)
        self.events.wait("model", n_models + 1, timeout=300)
        spooled = self.press(1, "spool")
        self.wait_marked(self.acks())
        self.phases["sd"] = {"model": sha, "spooled": spooled}
        return f"model {sha[:12]} received into the store; a press after it (spooled)"

    def close_logs(self) -> tuple[list[dict], str]:
        """Stop the bench and the marker, unmount, remove the targets (each writes its last
        mark and super block), power off. Returns the marks and the gaps ack->mark."""
        self.events.close()
        self.vm.ssh("systemctl stop scopecount.service crash-marker.service", timeout=120)
        marks = [json.loads(x) for x in self.vm.text("cat /root/marks.jsonl").splitlines()]
        self.vm.ssh(f"umount {STATE} && dmsetup remove crash-sd")
        self.vm.poweroff()
        gaps = sorted((m["marked_us"] - m["journal_us"]) / 1000 for m in marks)
        gap = f"{gaps[len(gaps) // 2]:.0f} ms median, {gaps[-1]:.0f} ms max" if gaps else "none"
        return marks, gap

"""The emulated Pi: qemu-system-aarch64 (virt, Cortex-A72) on the image build-image.sh made.

One qcow2 overlay per run keeps the cached image clean; the overlay survives a `kill -9` of
qemu, as an SD card survives a power cut. Commands go over SSH (a forwarded port, root's key
from the cache); USB sticks come and go through QEMU's monitor (qemu-xhci, usb-storage).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("PI_CACHE", Path.home() / ".cache" / "scopecount-pi"))
IMAGES = ("bookworm", "trixie")  # Raspberry Pi OS's Debian 12 and Debian 13


def cache_for(image: str) -> Path:
    """Where build-image.sh keeps one image (its disk, kernel, device tree, key)."""
    return CACHE_ROOT / image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VM:
    def __init__(self, run: Path, cache: Path) -> None:
        self.cache = cache
        self.run = run
        self.run.mkdir(parents=True, exist_ok=True)
        self.disk = run / "disk.qcow2"
        self.key = cache / "id_ed25519"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.sticks: set[str] = set()
        self.booted_with: list[str] = []  # the extra devices of the running boot

    def fresh_disk(self) -> None:
        self.disk.unlink(missing_ok=True)
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
             str(self.cache / "disk.qcow2"), str(self.disk)],
            check=True,
        )  # fmt: skip

    def boot(
        self,
        sticks: dict[str, Path] | None = None,
        dtb: Path | None = None,
        offline: bool = False,
        extra: list[str] | None = None,
        board: tuple[str, int, int] = ("cortex-a72", 2, 2048),
    ) -> float:
        """Start qemu; returns seconds until SSH answers. `sticks` are plugged in at power-on;
        `dtb` replaces the cached virt.dtb (see button_dtb, board_dtb); `offline` cuts the
        guest off every network (restrict=on keeps only the SSH forward); `extra` devices;
        `board` is (cpu, cores, MiB), matching the device tree (see zero_dtb)."""
        cpu, cores, mib = board
        self.sticks = set()
        mon = self.run / "monitor.sock"
        mon.unlink(missing_ok=True)
        cmd = [
            "qemu-system-aarch64", "-M", "virt", "-cpu", cpu, "-smp", str(cores), "-m", str(mib),
            "-kernel", str(self.cache / "vmlinuz"), "-initrd", str(self.cache / "initrd.img"),
            "-dtb", str(dtb or self.cache / "virt.dtb"),
            "-append", "root=/dev/vda rw console=ttyAMA0 quiet",
            "-drive", f"if=none,id=hd,file={self.disk},format=qcow2,cache=unsafe",
            "-device", "virtio-blk-pci,drive=hd",
            "-netdev", f"user,id=net,hostfwd=tcp:127.0.0.1:{self.port}-:22"
            + (",restrict=on" if offline else ""),
            "-device", "virtio-net-pci,netdev=net,romfile=",
            "-device", "qemu-xhci,id=xhci",
            "-monitor", f"unix:{mon},server=on,wait=off",
            "-serial", f"file:{self.run / 'serial.log'}",
            "-display", "none", "-nodefaults", "-no-reboot",
        ]  # fmt: skip
        cmd += extra or []
        self.booted_with = list(extra or [])
        for sid, image in (sticks or {}).items():
            cmd += ["-drive", f"if=none,id={sid},file={image},format=raw,cache=writethrough"]
            cmd += ["-device", f"usb-storage,bus=xhci.0,drive={sid},id={sid}-dev,removable=on"]
            self.sticks.add(sid)
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_ssh()
        return time.monotonic() - t0

    def wait_ssh(self, timeout: float = 600) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"qemu exited {self.proc.returncode} (see {self.run})")
            if self.ssh("true", timeout=20, check=False).returncode == 0:
                return
            time.sleep(2)
        raise TimeoutError("the VM's sshd did not answer")

    def ssh_base(self, user: str = "root") -> list[str]:
        return [
            "ssh", "-i", str(self.key), "-p", str(self.port), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", f"{user}@127.0.0.1",
        ]  # fmt: skip

    def ssh(
        self, command: str, timeout: float = 600, check: bool = True, input: bytes | None = None
    ) -> subprocess.CompletedProcess:
        try:
            out = subprocess.run(
                [*self.ssh_base(), command], capture_output=True, timeout=timeout, input=input
            )
        except subprocess.TimeoutExpired:
            if check:
                raise
            return subprocess.CompletedProcess([command], 124, b"", b"timeout")
        if check and out.returncode != 0:
            raise RuntimeError(
                f"in the VM: {command!r} exited {out.returncode}: "
                f"{(out.stdout + out.stderr).decode(errors='replace')[-2000:]}"
            )
        return out

    def text(self, command: str, timeout: float = 600) -> str:
        return self.ssh(command, timeout).stdout.decode(errors="replace")

    def stream(self, command: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*self.ssh_base(), command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )

    def put_tree(self, local: Path, remote: str, files: list[str]) -> None:
        tar = subprocess.run(
            ["tar", "-C", str(local), "-cf", "-", *files], capture_output=True, check=True
        )
        self.ssh(f"mkdir -p {shlex.quote(remote)} && tar -C {shlex.quote(remote)} -xf -",
                 input=tar.stdout)  # fmt: skip

    def monitor(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(self.run / "monitor.sock"))
            s.settimeout(30)
            buf = b""
            while not buf.endswith(b"(qemu) "):
                buf += s.recv(4096)
            s.sendall(command.encode() + b"\n")
            buf = b""
            while not buf.endswith(b"(qemu) "):
                buf += s.recv(4096)
        return buf.decode(errors="replace")

    def plug(self, sid: str, image: Path, opts: str = "") -> None:
        """Hot-plug a stick; `opts` are more -drive options (throttling.iops-write=20)."""
        self.monitor(
            f"drive_add 0 if=none,id={sid},file={image},format=raw,cache=writethrough{opts}"
        )
        out = self.monitor(
            f"device_add usb-storage,bus=xhci.0,drive={sid},id={sid}-dev,removable=on"
        )
        if "rror" in out:
            raise RuntimeError(out)
        self.sticks.add(sid)

    def unplug(self, sid: str) -> None:
        self.monitor(f"device_del {sid}-dev")
        self.sticks.discard(sid)

    def power_key(self) -> None:
        """QEMU's power key: its gpio-key device drives PL061 line 3 high for 100 ms."""
        out = self.monitor("system_powerdown")
        if "rror" in out:
            raise RuntimeError(out)

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def poweroff(self) -> None:
        if self.proc is None:
            return
        self.ssh("systemctl poweroff", check=False, timeout=30)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.kill9()
        self.proc = None


def button_dtb(cache: Path) -> Path:
    """The cached virt.dtb as a board whose PL061 line 3 is a free input, made once beside it.

    Without the gpio-keys node the kernel leaves line 3 (QEMU's power key) alone and systemd no
    longer shuts down on it. The revision becomes a Compute Module 3+ (a02100): a Pi 4B has an
    I2C pull-up soldered on GPIO3, so gpiozero refuses the pull-down that an active-high key
    (high while pressed) needs; a CM3+ has none.
    """
    src, out = cache / "virt.dtb", cache / "virt-button.dtb"
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.copyfile(src, tmp)
    subprocess.run(["fdtput", "-r", str(tmp), "/gpio-keys"], check=True)
    subprocess.run(["fdtput", "-t", "x", str(tmp), "/system", "linux,revision", "a02100"],
                   check=True)  # fmt: skip
    tmp.replace(out)
    return out


def board_dtb(cache: Path, name: str, revision: str, drop: tuple[str, ...] = ()) -> Path:
    """The cached virt.dtb with another board revision (d04170: a Raspberry Pi 5 4GB) and
    without the nodes in `drop` (e.g. the PL031 real-time clock, for a Pi 4 with none)."""
    src, out = cache / "virt.dtb", cache / f"virt-{name}.dtb"
    tmp = out.with_name(out.name + ".tmp")
    shutil.copyfile(src, tmp)
    subprocess.run(["fdtput", "-t", "x", str(tmp), "/system", "linux,revision", revision],
                   check=True)  # fmt: skip
    for node in drop:
        subprocess.run(["fdtput", "-r", str(tmp), node], check=True)
    tmp.replace(out)
    return out


ZERO_2W = ("cortex-a53", 4, 448)  # a Zero 2 W: four Cortex-A53 cores, 512 MB less the GPU's


def zero_dtb(cache: Path) -> Path:
    """The virt machine's device tree for a Zero 2 W's cores and memory, revision 902120.

    The cached virt.dtb lists two Cortex-A72 cores: a -smp 4 guest booted with it would see
    two, so this one is dumped by QEMU for the Zero's board, once."""
    out = cache / "virt-zero2w.dtb"
    if out.exists():
        return out
    tmp = out.with_name(out.name + ".tmp")
    cpu, cores, mib = ZERO_2W
    subprocess.run(
        ["qemu-system-aarch64", "-M", f"virt,dumpdtb={tmp}", "-cpu", cpu, "-smp", str(cores),
         "-m", str(mib), "-nodefaults", "-display", "none"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["fdtput", "-c", str(tmp), "/system"], check=True)
    subprocess.run(["fdtput", "-t", "x", str(tmp), "/system", "linux,revision", "902120"],
                   check=True)  # fmt: skip
    tmp.replace(out)
    return out


def dtb_nodes(dtb: Path, prefix: str) -> list[str]:
    """Top-level nodes of a device tree whose name starts with prefix (pl031@9010000)."""
    out = subprocess.run(["fdtget", "-l", str(dtb), "/"], capture_output=True, text=True)
    return [f"/{n}" for n in out.stdout.split() if n.startswith(prefix)]


def fat_image(path: Path, fs: str, partitioned: bool, mb: int = 64) -> Path:
    """A stick image: FAT32 or exFAT, behind an MBR partition table or on the whole disk."""
    with open(path, "wb") as f:
        f.truncate(mb * 2**20)
    offset = 2048 if partitioned else 0
    if partitioned:  # one partition from sector 2048 to the end, type 0x0c (FAT32 LBA) / 0x07
        sectors = mb * 2**20 // 512 - offset
        entry = bytes([0x00, 0, 0, 0, 0x0C if fs == "vfat" else 0x07, 0, 0, 0])
        entry += offset.to_bytes(4, "little") + sectors.to_bytes(4, "little")
        with open(path, "r+b") as f:
            f.seek(446)
            f.write(entry)
            f.seek(510)
            f.write(b"\x55\xaa")
    if fs == "ntfs":
        if partitioned:
            raise ValueError("ntfs images here are whole-disk")
        cmd = ["mkntfs", "-q", "-F", "-Q", "-L", "SCOPE", str(path)]
    elif fs == "vfat":
        cmd = ["mkfs.vfat", "-F", "32", "-n", "SCOPE"]
        cmd += [f"--offset={offset}", str(path)] if partitioned else [str(path)]
    else:
        if partitioned:
            raise ValueError("exfat images here are whole-disk")
        cmd = ["mkfs.exfat", "-L", "SCOPE", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path

#!/usr/bin/env bash
# Build, once, the emulated Pi: an arm64 Debian 12 (Bookworm) root with the same Python 3.11 and
# apt numpy 1.24 as Raspberry Pi OS Bookworm, Debian's arm64 kernel, and a device tree that says
# "Raspberry Pi 4B" (linux,revision c03111) so that gpiozero accepts the PL061 gpiochip.
# Everything lands in $PI_CACHE (default ~/.cache/scopecount-pi); a second run does nothing.
set -euo pipefail
CACHE="${PI_CACHE:-$HOME/.cache/scopecount-pi}"
MIRROR="${PI_MIRROR:-http://deb.debian.org/debian}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -f "$CACHE/disk.qcow2" ] && [ -f "$CACHE/vmlinuz" ] && [ -f "$CACHE/virt.dtb" ]; then
  echo "image: cached in $CACHE"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-image: run as root (debootstrap, binfmt_misc)" >&2; exit 2; }
for t in debootstrap qemu-aarch64-static qemu-system-aarch64 fdtput mkfs.ext4 qemu-img; do
  command -v "$t" >/dev/null || { echo "build-image: $t missing (apt install debootstrap qemu-user-static qemu-system-arm device-tree-compiler qemu-utils)" >&2; exit 2; }
done
start=$(date +%s)
mkdir -p "$CACHE"
# debootstrap's second stage runs arm64 binaries through qemu-user.
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 2>/dev/null || update-binfmts --import qemu-aarch64
fi
ROOT="$CACHE/rootfs"
pkgs=systemd-sysv,udev,kmod,dbus,linux-image-arm64,initramfs-tools,python3,python3-venv,python3-pip
pkgs+=,python3-numpy,openssh-server,openssh-client,dosfstools,exfatprogs,ca-certificates,iproute2
pkgs+=,e2fsprogs,sudo,procps,gpiod
# debootstrap is the slow part (~30 min under qemu-user on 2 busy cores): a later step that
# fails resumes after it.
if [ ! -f "$CACHE/rootfs.done" ]; then
  rm -rf "$ROOT"
  debootstrap --arch=arm64 --include="$pkgs" bookworm "$ROOT" "$MIRROR"
  touch "$CACHE/rootfs.done"
fi
echo scopecount-pi > "$ROOT/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\n' > "$ROOT/etc/fstab"
chroot "$ROOT" passwd -d root >/dev/null
# The harness logs in as root over SSH (a forwarded port) with a key kept beside the image.
[ -f "$CACHE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C scopecount-pi-test -f "$CACHE/id_ed25519"
install -d -m 0700 "$ROOT/root/.ssh"
install -m 0600 "$CACHE/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"
# Network by systemd-networkd (DHCP from QEMU's user network); root logs in on the serial console.
mkdir -p "$ROOT/etc/systemd/network"
printf '[Match]\nName=en* eth*\n[Network]\nDHCP=yes\n' > "$ROOT/etc/systemd/network/20-wired.network"
chroot "$ROOT" systemctl enable systemd-networkd.service >/dev/null 2>&1
mkdir -p "$ROOT/etc/systemd/system/serial-getty@ttyAMA0.service.d"
# shellcheck disable=SC2016  # $TERM is for systemd to expand
printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --keep-baud 115200 %%I $TERM\n' \
  > "$ROOT/etc/systemd/system/serial-getty@ttyAMA0.service.d/autologin.conf"
# pip inside the VM meets the TLS proxy of this machine: it needs this machine's CA bundle.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/local/share/host-ca.crt"
printf '[global]\ncert = /usr/local/share/host-ca.crt\n' > "$ROOT/etc/pip.conf"
# Wheels for the venv, fetched here (native speed) for aarch64/cp311: the VM installs offline.
WH="$ROOT/var/cache/scopecount-wheels"
mkdir -p "$WH"
py="$SRC/.venv/bin/python"; [ -x "$py" ] || py=python3
"$py" -m pip download --quiet --dest "$WH" --only-binary=:all: --python-version 3.11 \
  --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
  --platform manylinux_2_34_aarch64 \
  --implementation cp "numpy>=1.24,<2" "opencv-python-headless>=4.8,<4.12" "onnxruntime>=1.17,<2" \
  "gpiozero>=2.0,<3" "textual>=0.60,<9" "cryptography>=42,<51" "lgpio>=0.2" "setuptools>=77" wheel
printf '[global]\ncert = /usr/local/share/host-ca.crt\nfind-links = /var/cache/scopecount-wheels\n' \
  > "$ROOT/etc/pip.conf"
cp "$ROOT"/boot/vmlinuz-* "$CACHE/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$CACHE/initrd.img"
if [ ! -f "$CACHE/disk.qcow2" ]; then
  rm -f "$CACHE/disk.img"
  mkfs.ext4 -q -L piroot -d "$ROOT" "$CACHE/disk.img" 6G
  qemu-img convert -O qcow2 "$CACHE/disk.img" "$CACHE/disk.qcow2.tmp"
  mv "$CACHE/disk.qcow2.tmp" "$CACHE/disk.qcow2"
  rm -f "$CACHE/disk.img"
fi
# The virt machine's own device tree plus a Raspberry Pi 4B revision for gpiozero.
qemu-system-aarch64 -M virt,dumpdtb="$CACHE/virt.dtb" -cpu cortex-a72 -smp 2 -m 2048 -nodefaults \
  -display none
fdtput -c "$CACHE/virt.dtb" /system
fdtput -t x "$CACHE/virt.dtb" /system linux,revision c03111
echo "$(( $(date +%s) - start ))" > "$CACHE/build-seconds"
rm -rf "$ROOT" "$CACHE/rootfs.done"
echo "image: built in $(cat "$CACHE/build-seconds") s in $CACHE"

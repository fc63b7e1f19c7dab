#!/usr/bin/env bash
# Build, once, an emulated Pi: `build-image.sh bookworm` (Debian 12, Python 3.11, apt numpy 1.24:
# Raspberry Pi OS Bookworm) or `build-image.sh trixie` (Debian 13, Python 3.13, apt numpy 2.2:
# Raspberry Pi OS Trixie, today's Imager default). Debian's arm64 kernel, and a device tree that
# says "Raspberry Pi 4B" (linux,revision c03111) so that gpiozero accepts the PL061 gpiochip.
# Everything lands in $PI_CACHE/<os> (default ~/.cache/scopecount-pi/<os>), keyed on a hash of
# what builds the image (this script, the lock, pyproject.toml): a changed input rebuilds it,
# an unchanged one does nothing. The debootstrap stage (the slow part) is kept as a tarball
# keyed on the release and its package list.
set -euo pipefail
OS="${1:-bookworm}"
case "$OS" in
  bookworm) PYV=3.11; NUMPY=1.24 ;;
  trixie) PYV=3.13; NUMPY=2.2 ;;
  *) echo "build-image: unknown image '$OS' (bookworm or trixie)" >&2; exit 2 ;;
esac
CACHE="${PI_CACHE:-$HOME/.cache/scopecount-pi}/$OS"
MIRROR="${PI_MIRROR:-http://deb.debian.org/debian}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCK="$SRC/.ci/requirements.lock"
KEY=$(cat "${BASH_SOURCE[0]}" "$LOCK" "$SRC/.ci/apt-versions.txt" "$SRC/pyproject.toml" \
  | sha256sum | cut -c1-16)
if [ -f "$CACHE/disk.qcow2" ] && [ -f "$CACHE/vmlinuz" ] && [ -f "$CACHE/virt.dtb" ] \
  && [ "$(cat "$CACHE/key" 2>/dev/null)" = "$KEY" ]; then
  echo "image: $OS cached in $CACHE ($KEY)"
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
rm -f "$CACHE/disk.qcow2" "$CACHE/key"
pkgs=systemd-sysv,udev,kmod,dbus,linux-image-arm64,initramfs-tools,python3,python3-venv,python3-pip
pkgs+=,python3-numpy,openssh-server,openssh-client,dosfstools,exfatprogs,ca-certificates,iproute2
pkgs+=,e2fsprogs,sudo,procps,gpiod
# Plain Debian 13 has no lgpio (Pi OS Trixie has python3-lgpio): its PyPI source built with
# PYPI=1 (its own liblgpio) into the system site packages stands in for the apt package.
[ "$OS" = trixie ] && pkgs+=,swig,python3-dev,gcc,make
# debootstrap is the slow part (~25 min under qemu-user on 2 busy cores): its root is kept,
# keyed on the release and the package list, so a later change rebuilds from there.
BASE="$CACHE/base-$(printf '%s %s' "$OS" "$pkgs" | sha256sum | cut -c1-16).tar"
rm -rf "$ROOT"
if [ ! -f "$BASE" ]; then
  rm -f "$CACHE"/base-*.tar
  debootstrap --arch=arm64 --include="$pkgs" "$OS" "$ROOT" "$MIRROR"
  tar -C "$ROOT" -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
else
  mkdir -p "$ROOT" && tar -C "$ROOT" -xf "$BASE"
fi
have=$(chroot "$ROOT" python3 -c 'import numpy, sys; print("%d.%d" % sys.version_info[:2], numpy.__version__)')
case "$have" in
  "$PYV $NUMPY".*) echo "image: $OS has Python and apt numpy $have" ;;
  *) echo "build-image: $OS has Python/numpy $have, expected $PYV/$NUMPY" >&2; exit 1 ;;
esac
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
# Wheels for the venv, fetched here (native speed) for aarch64 and this image's Python, with the
# versions of the lock (the same constraints install.sh gives pip): the VM installs offline.
WH="$ROOT/var/cache/scopecount-wheels"
mkdir -p "$WH"
py="$SRC/.venv/bin/python"; [ -x "$py" ] || py=python3
# The requirements a Pi installs (base + pi) and the lock's pins, markers evaluated for aarch64
# Linux and this image's Python (pip download would evaluate them for this machine).
"$py" - "$SRC/pyproject.toml" "$PYV" "$LOCK" "$CACHE/pi-constraints.txt" \
  > "$CACHE/pi-requirements.txt" <<'PY'
import re, sys, tomllib
try:
    from packaging.markers import Marker
    from packaging.requirements import Requirement
except ImportError:  # a bare python3: pip carries its own copy
    from pip._vendor.packaging.markers import Marker
    from pip._vendor.packaging.requirements import Requirement
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
env = {"platform_machine": "aarch64", "sys_platform": "linux", "platform_system": "Linux",
       "python_version": sys.argv[2], "python_full_version": sys.argv[2] + ".0"}
for r in project["dependencies"] + project["optional-dependencies"]["pi"]:
    req = Requirement(r)
    if req.marker is None or req.marker.evaluate(env):
        req.marker = None
        print(req)
print("setuptools>=77")
print("wheel")
pins = []
for line in open(sys.argv[3]):
    m = re.match(r"^([A-Za-z0-9._-]+==[^\s;]+)\s*(?:;\s*(.+))?$", line.strip())
    if m and (m.group(2) is None or Marker(m.group(2)).evaluate(env)):
        pins.append(m.group(1))
open(sys.argv[4], "w").write("\n".join(pins) + "\n")
PY
"$py" -m pip download --quiet --dest "$WH" --only-binary=:all: --python-version "$PYV" \
  --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
  --platform manylinux_2_34_aarch64 --platform manylinux_2_36_aarch64 --implementation cp \
  -c "$CACHE/pi-constraints.txt" -r "$CACHE/pi-requirements.txt"
if [ "$OS" = trixie ]; then
  lg=$(grep -E '^lgpio==' "$LOCK" | head -n 1 | sed 's/ *;.*//')
  rm -rf "$CACHE/sdist"  # one version only: a lock bump must not leave the old one beside it
  "$py" -m pip download --quiet --dest "$CACHE/sdist" --no-binary=:all: --no-deps "${lg:-lgpio}"
  cp "$CACHE"/sdist/lgpio-*.tar.gz "$ROOT/tmp/"
  # lgpio's setup.py needs setuptools, which Debian's python3 lacks: the wheel fetched above
  # goes in for the build only, and out again (apt's python3-lgpio needs none).
  cp "$WH"/setuptools-*.whl "$ROOT/tmp/"
  chroot "$ROOT" sh -c 'cd /tmp && python3 -m pip install --quiet --break-system-packages \
    --no-index --no-deps /tmp/setuptools-*.whl && PYPI=1 python3 -m pip install --quiet \
    --no-build-isolation --break-system-packages --no-deps --no-index /tmp/lgpio-*.tar.gz \
    && python3 -m pip uninstall --quiet --yes --break-system-packages setuptools'
  rm -f "$ROOT"/tmp/lgpio-*.tar.gz "$ROOT"/tmp/setuptools-*.whl
  chroot "$ROOT" python3 -c 'import lgpio; print("image: lgpio", lgpio.LGPIO_PY_VERSION)'
fi
if [ "$OS" = trixie ]; then
  # The camera stack: Debian 13 has libcamera 0.4 (with its `virtual` camera) and its Python
  # bindings, but no picamera2 (Pi OS Trixie has python3-picamera2 from its own archive, built
  # for its own libcamera): picamera2 from PyPI in the system site packages stands in, seen by
  # the bench's venv as a Pi's apt package is. Pinned: the camera row reports its version.
  # dmsetup: `make pi-crash` puts its disks behind the kernel's dm-log-writes target.
  cp "$ROOT/etc/resolv.conf" "$CACHE/resolv.conf.image" 2>/dev/null || true
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"  # this machine's resolver, for the build only
  chroot "$ROOT" sh -c 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends python3-libcamera libcamera-ipa libcap-dev \
    dmsetup >/dev/null && apt-get clean'
  # This machine's pip settings (PIP_CERT, find-links) name files the chroot lacks: the image's
  # own pip.conf (its copy of this machine's CA bundle) only.
  chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    PIP_CERT=/usr/local/share/host-ca.crt python3 -m pip install --quiet \
    --break-system-packages --root-user-action=ignore picamera2==0.3.38
  chroot "$ROOT" python3 -c 'import importlib.metadata as m; print("image: picamera2", m.version("picamera2"))'
  if [ -f "$CACHE/resolv.conf.image" ]; then mv "$CACHE/resolv.conf.image" "$ROOT/etc/resolv.conf"
  else rm -f "$ROOT/etc/resolv.conf"; fi
fi
printf '[global]\ncert = /usr/local/share/host-ca.crt\nfind-links = /var/cache/scopecount-wheels\n' \
  > "$ROOT/etc/pip.conf"
cp "$ROOT"/boot/vmlinuz-* "$CACHE/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$CACHE/initrd.img"
rm -f "$CACHE/disk.img"
mkfs.ext4 -q -L piroot -d "$ROOT" "$CACHE/disk.img" 6G
qemu-img convert -O qcow2 "$CACHE/disk.img" "$CACHE/disk.qcow2.tmp"
mv "$CACHE/disk.qcow2.tmp" "$CACHE/disk.qcow2"
rm -f "$CACHE/disk.img"
# The virt machine's own device tree plus a Raspberry Pi 4B revision for gpiozero.
qemu-system-aarch64 -M virt,dumpdtb="$CACHE/virt.dtb" -cpu cortex-a72 -smp 2 -m 2048 -nodefaults \
  -display none
fdtput -c "$CACHE/virt.dtb" /system
fdtput -t x "$CACHE/virt.dtb" /system linux,revision c03111
echo "$(( $(date +%s) - start ))" > "$CACHE/build-seconds"
rm -rf "$ROOT"
echo "$KEY" > "$CACHE/key"
echo "image: $OS built in $(cat "$CACHE/build-seconds") s in $CACHE ($KEY)"

#!/usr/bin/env bash
# Host packages for `make pi-test` and `make pi-crash`: qemu (system and user), debootstrap, dtc
# (fdtput), FAT and exFAT tools for the stick images, an ssh client, and user-space readers of
# FAT, exFAT and ext4 images. Installed when root; otherwise says what.
set -uo pipefail
need=()
command -v qemu-system-aarch64 >/dev/null 2>&1 || need+=(qemu-system-arm)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static binfmt-support)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v fdtput >/dev/null 2>&1 || need+=(device-tree-compiler)
command -v mkfs.vfat >/dev/null 2>&1 || need+=(dosfstools)
command -v mkfs.exfat >/dev/null 2>&1 || need+=(exfatprogs)
command -v mkntfs >/dev/null 2>&1 || need+=(ntfs-3g)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
# pi-crash reads replayed FAT and ext4 images in user space (exFAT: tests/pi/exfat_read.py).
command -v mcopy >/dev/null 2>&1 || need+=(mtools)
command -v debugfs >/dev/null 2>&1 || need+=(e2fsprogs)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "pi-test, pi-crash: need root to install ${need[*]}" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"

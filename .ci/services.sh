#!/usr/bin/env bash
# System packages the tests use: openssh-server (deploy over SSH), chromium (annotation page),
# systemd (systemd-analyze), shellcheck, mkfs for the stick types (FAT, exFAT, NTFS), mtools
# (FAT images read in user space). Installed when run as root, as CI is; otherwise the tests
# that need them skip with a message. Each test starts its own servers on 127.0.0.1.
set -uo pipefail
need=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
command -v mkfs.vfat >/dev/null 2>&1 || need+=(dosfstools)
command -v mcopy >/dev/null 2>&1 || need+=(mtools)
command -v mkfs.exfat >/dev/null 2>&1 || need+=(exfatprogs)
command -v mkntfs >/dev/null 2>&1 || need+=(ntfs-3g)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  echo "services: system packages present"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "services: not root, not installing ${need[*]} (tests that need them will skip)"
  exit 0
fi
echo "services: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "services: apt-get failed; tests that need ${need[*]} will skip"
exit 0

#!/usr/bin/env bash
# Install (or, with --uninstall, remove) the scopecount bench on Raspberry Pi OS (Bookworm or
# Trixie).
#
#   sudo systemd/install.sh                 install or update (headless service); safe to rerun
#   sudo systemd/install.sh --tui           the terminal UI on tty1 instead of the headless unit
#   sudo systemd/install.sh --headless      back to the headless unit
#   sudo systemd/install.sh --uninstall     remove units, rules, venv, PATH link (records, models,
#                                           config stay)
#   systemd/install.sh --prefix DIR --no-pip  lay everything out under DIR (for tests), no users
#
# picamera2 comes from apt (python3-picamera2), built against apt's numpy (1.24 on Bookworm, 2.2
# on Trixie), so the venv sees system packages (--system-site-packages). Every Python package
# comes from the lock (.ci/requirements.lock, pip constraints), which pins numpy to apt's version
# for each Python: pip keeps apt's numpy instead of shadowing it with a wheel ("numpy.dtype size
# changed"), and two benches installed a month apart run the same libraries.
set -euo pipefail

PREFIX=""
UNINSTALL=0
PIP=1
UI=""            # headless | tui; empty: keep what is enabled (headless on a first install)
SERVICE_USER=scopecount
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    # absolute: links made under it must point at real paths
    --prefix) PREFIX="$(realpath -m -- "${2:?--prefix needs a folder}")"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    --no-pip) PIP=0; shift ;;
    --tui) UI=tui; shift ;;
    --headless) UI=headless; shift ;;
    --user) SERVICE_USER="${2:?--user needs a name}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

OPT="$PREFIX/opt/scopecount"
ETC="$PREFIX/etc/scopecount"
UNITS="$PREFIX/etc/systemd/system"
RULES="$PREFIX/etc/udev/rules.d"
HELPER="$PREFIX/usr/local/lib/scopecount"
BINDIR="$PREFIX/usr/local/bin"   # `scopecount` on the PATH: a link to the venv's command
STATE="$PREFIX/var/lib/scopecount"
MEDIA="$PREFIX/media/scopecount"
SYSTEM=1
[ -n "$PREFIX" ] && SYSTEM=0
HEADLESS=scopecount.service
TUI=scopecount-tui.service

say() { printf 'install: %s\n' "$*"; }

# systemctl on the running system, or offline on the trial root (--root needs no systemd).
sysctl() {
  if [ "$SYSTEM" = 1 ]; then systemctl "$@"; else systemctl --root="$PREFIX" "$@"; fi
}

if [ "$SYSTEM" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo), or use --prefix DIR for a trial layout" >&2
  exit 2
fi

if [ "$UNINSTALL" = 1 ]; then
  if [ "$SYSTEM" = 1 ]; then
    systemctl disable --now "$HEADLESS" "$TUI" 2>/dev/null || true
  else
    sysctl disable "$HEADLESS" "$TUI" >/dev/null 2>&1 || true
  fi
  rm -f "$PREFIX/etc/systemd/system.conf.d/scopecount-watchdog.conf"
  rm -f "$UNITS/$HEADLESS" "$UNITS/$TUI" "$RULES/99-scopecount-usb.rules" \
    "$RULES/60-scopecount-gpio.rules"
  rm -rf "$HELPER"
  # The PATH link goes only where it is the one install.sh made (it points into $OPT/venv).
  link="kept $BINDIR/scopecount (not the link install.sh makes)"
  if [ "$(readlink "$BINDIR/scopecount" 2>/dev/null)" = "$OPT/venv/bin/scopecount" ]; then
    rm -f "$BINDIR/scopecount"
    link="removed the scopecount link"
  elif [ ! -e "$BINDIR/scopecount" ] && [ ! -L "$BINDIR/scopecount" ]; then
    link="no scopecount link"
  fi
  # Only what install.sh made: a source clone kept under /opt/scopecount (e.g. src/) stays.
  rm -rf "$OPT/venv" "$OPT/models"
  rmdir "$OPT" 2>/dev/null || say "kept $OPT (it holds more than the venv, e.g. a source clone)"
  if [ "$SYSTEM" = 1 ]; then
    systemctl daemon-reload
    udevadm control --reload-rules || true
  fi
  say "removed units, udev rule, $OPT/venv; $link; kept $ETC, $STATE (records spool, models)"
  exit 0
fi

if [ "$SYSTEM" = 1 ]; then
  # python3-picamera2 and python3-lgpio live in the Raspberry Pi archive only: on plain Debian
  # (or a VM) they are missing, and the bench still runs with the opencv or replay camera.
  # dosfstools and exfatprogs: the stick helper checks and repairs FAT and exFAT at each mount
  want=(python3-venv python3-numpy dosfstools exfatprogs)
  for p in python3-picamera2 python3-lgpio; do
    if apt-cache show "$p" >/dev/null 2>&1; then
      want+=("$p")
    else
      say "$p is not in this system's apt sources (it comes from the Raspberry Pi archive):"
      case "$p" in
        python3-picamera2) say "  the picamera2 camera will not work; use [camera] backend = \"opencv\" or \"replay\"" ;;
        python3-lgpio)
          if python3 -c 'import sys; sys.exit(sys.version_info < (3, 13))'; then
            say "  PyPI has no lgpio for this Python: the LED ring and button need python3-lgpio"
            say "  (Raspberry Pi OS has it; elsewhere build lgpio's source with PYPI=1)"
          else
            say "  lgpio comes from PyPI instead (the pi extra)"
          fi ;;
      esac
    fi
  done
  say "apt packages: ${want[*]}"
  apt-get install -y --no-install-recommends "${want[@]}"
  getent group gpio >/dev/null || groupadd --system gpio
  # A real shell with a locked password: sshd runs a key's forced command through the login
  # shell (nologin would answer "This account is currently not available"), and the key's
  # restrict,command="..." options in authorized_keys allow nothing else.
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/scopecount --shell /bin/sh \
      --groups video,gpio "$SERVICE_USER"
    say "created user $SERVICE_USER (shell /bin/sh for deploy's forced command, password locked)"
  else
    usermod -a -G video,gpio --shell /bin/sh "$SERVICE_USER"
  fi
  passwd -l "$SERVICE_USER" >/dev/null 2>&1 || true
fi

mkdir -p "$OPT" "$ETC" "$UNITS" "$RULES" "$HELPER" "$STATE/models" "$STATE/spool" "$MEDIA"
# The hardware watchdog (bcm2835-wdt on a Pi; i6300esb in the emulated one): systemd pets it, so a
# hung kernel or a stuck systemd reboots the bench instead of leaving it dark until someone
# notices. Without a watchdog device systemd says so in the journal and goes on.
mkdir -p "$PREFIX/etc/systemd/system.conf.d"
printf '[Manager]\nRuntimeWatchdogSec=15s\nRebootWatchdogSec=2min\n' \
  > "$PREFIX/etc/systemd/system.conf.d/scopecount-watchdog.conf"
if [ ! -x "$OPT/venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$OPT/venv"
  say "created $OPT/venv (with system site packages, for apt's picamera2)"
fi
if [ "$PIP" = 1 ]; then
  LOCK="$SRC/.ci/requirements.lock"
  [ -f "$LOCK" ] || { echo "install.sh: $LOCK is missing (install from a full clone)" >&2; exit 2; }
  # Built from a copy: pip builds a source tree in place, and root-owned build/ and egg-info
  # folders left in a lab's clone would break its next `make run`.
  BUILD=$(mktemp -d)
  trap 'rm -rf "$BUILD"' EXIT
  tar -C "$SRC" -cf - pyproject.toml README.md device export models | tar -C "$BUILD" -xf -
  "$OPT/venv/bin/pip" install --quiet --upgrade -c "$LOCK" "${BUILD}[pi]"
  say "installed scopecount[pi] into $OPT/venv (versions from $LOCK)"
  say "numpy: $("$OPT/venv/bin/python" -c 'import numpy; print(numpy.__version__, numpy.__file__)')"
fi
# `scopecount doctor` and the rest from any shell (and through sudo, whose secure_path has
# /usr/local/bin): a link to the venv's command, never over a file that is not a link.
mkdir -p "$BINDIR"
# Only a missing one, or the link install.sh made, is (re)made: an admin's own link or file stays.
made="$(readlink "$BINDIR/scopecount" 2>/dev/null || true)"
if [ "$made" = "$OPT/venv/bin/scopecount" ] \
  || { [ ! -e "$BINDIR/scopecount" ] && [ ! -L "$BINDIR/scopecount" ]; }; then
  ln -sfn "$OPT/venv/bin/scopecount" "$BINDIR/scopecount"
  say "linked $BINDIR/scopecount -> $OPT/venv/bin/scopecount"
else
  say "kept $BINDIR/scopecount (yours, not the link install.sh makes); the bench's command is" \
    "$OPT/venv/bin/scopecount"
fi
# The shipped models travel with the install.
mkdir -p "$OPT/models"
cp -f "$SRC"/models/*.onnx "$OPT/models/" 2>/dev/null || true

if [ ! -f "$ETC/config.toml" ]; then
  install -m 0644 "$SRC/systemd/config.toml" "$ETC/config.toml"
  say "wrote $ETC/config.toml"
else
  say "kept existing $ETC/config.toml"
fi
install -m 0644 "$SRC/systemd/$HEADLESS" "$UNITS/$HEADLESS"
install -m 0644 "$SRC/systemd/$TUI" "$UNITS/$TUI"
install -m 0644 "$SRC/systemd/99-scopecount-usb.rules" "$RULES/99-scopecount-usb.rules"
install -m 0644 "$SRC/systemd/60-scopecount-gpio.rules" "$RULES/60-scopecount-gpio.rules"
install -m 0755 "$SRC/systemd/scopecount-stick" "$HELPER/scopecount-stick"
printf 'SCOPECOUNT_DEFAULT_MODEL=%s\n' "/opt/scopecount/models/drosophila-eggs-demo.onnx" \
  > "$ETC/environment"

# The shipped model goes into the store when it holds none: the running bench then watches the
# store, so that the first `scopecount deploy` switches it (a bench on a fixed file never would).
if [ "$PIP" = 1 ] && [ "$SYSTEM" = 1 ]; then
  store() { (cd / && runuser -u "$SERVICE_USER" -- "$OPT/venv/bin/scopecount" model "$@" --store "$STATE/models"); }
  chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"
  if store list --json | grep -q '"active_sha256": null'; then
    store install "$OPT/models/drosophila-eggs-demo.onnx"
  fi
fi

# Which unit runs the bench: as asked, else as before (a TUI bench stays a TUI bench).
if [ -z "$UI" ]; then
  if sysctl is-enabled --quiet "$TUI" 2>/dev/null; then UI=tui; else UI=headless; fi
fi
if [ "$UI" = tui ]; then on=$TUI; off=$HEADLESS; else on=$HEADLESS; off=$TUI; fi

if [ "$SYSTEM" = 1 ]; then
  chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"
  chown "$SERVICE_USER:$SERVICE_USER" "$MEDIA"
  systemctl daemon-reload
  systemctl daemon-reexec || true  # system.conf.d (the hardware watchdog) is read at exec
  udevadm control --reload-rules
  udevadm trigger --subsystem-match=gpio --action=change
  udevadm settle || true
  systemctl disable --now "$off" 2>/dev/null || true
  systemctl enable "$on"
  systemctl restart "$on"
  say "$on enabled and (re)started; watch it with: journalctl -u ${on%.service} -f"
else
  sysctl disable "$off" >/dev/null 2>&1 || true
  sysctl enable "$on" >/dev/null 2>&1
  say "$on enabled in the trial layout under $PREFIX (no users, services or udev changed)"
fi

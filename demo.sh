#!/usr/bin/env bash
# The README's first command: a live chrony-snap dashboard on a fresh Debian
# machine.  Installs what is missing (as root: chrony, nginx, python3-venv;
# the project into ./.venv, or $CHRONY_SNAP_VENV), then runs
# `chrony-snap demo`: a private chronyd on loopback with synthetic IPv4/IPv6
# clients (some rate-limited), the snapshot loop and nginx on
# http://127.0.0.1:8080/ until Ctrl-C, which stops everything it started.
# The machine's own chronyd and nginx services are neither used nor started.
#
#   ./demo.sh [--port 8080] [--clients 300] [--dir DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${CHRONY_SNAP_VENV:-$here/.venv}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! have chronyd || ! have nginx || ! "$venv/bin/chrony-snap" --version >/dev/null 2>&1; then
  echo "demo.sh: installing what the demo needs"
  CHRONY_SNAP_VENV=$venv bash "$here/scripts/setup.sh" demo
fi
exec "$venv/bin/chrony-snap" demo "$@"

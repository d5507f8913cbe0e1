#!/bin/sh
# chrony-snap demo from a fresh Debian/Ubuntu machine, in one command:
#
#   ./deploy/demo.sh [--port 8080] [--clients 300]
#
# 1. installs the Debian packages it needs if they are missing (as root):
#    chrony (chronyd/chronyc), nginx, python3-venv.  Note: Debian starts the
#    system services of new packages -- chrony (NTP client of the Debian pool,
#    it replaces systemd-timesyncd) and nginx (default site on port 80).  The
#    demo itself uses neither: it runs its own chronyd and nginx on 127.0.0.1.
# 2. creates a virtualenv (.venv next to pyproject.toml, or $CHRONY_SNAP_VENV)
#    and installs this checkout into it (pip needs PyPI for Jinja2, watchdog);
# 3. runs `chrony-snap demo`: a private chronyd with synthetic clients, the
#    snapshot loop and nginx on http://127.0.0.1:8080/ until Ctrl-C, which
#    stops everything it started.
set -eu

here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$here"

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

need=""
have chronyd || need="$need chrony"
have nginx || need="$need nginx"
have python3 || need="$need python3"
if have python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need="$need python3-venv"
fi
if [ -n "$need" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "demo.sh: missing packages:$need" >&2
        echo "demo.sh: run this script as root once, or: apt-get install -y$need" >&2
        exit 1
    fi
    echo "demo.sh: installing:$need"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y $need
fi

venv=${CHRONY_SNAP_VENV:-"$here/.venv"}
if ! "$venv/bin/chrony-snap" --version >/dev/null 2>&1; then
    echo "demo.sh: installing chrony-snap into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "$here"
fi
exec "$venv/bin/chrony-snap" demo "$@"

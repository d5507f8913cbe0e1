#!/usr/bin/env bash
# Install what chrony-snap needs on a fresh Debian 12 machine (as root;
# idempotent: a second run installs nothing).
#   scripts/setup.sh        everything for the tests: apt chrony nginx chromium
#                           python3-venv systemd systemd-container; pip: the
#                           project + test extras
#   scripts/setup.sh demo   only what the demo needs: chrony nginx python3-venv;
#                           pip: the project
# The project goes into ./.venv (or $CHRONY_SNAP_VENV), made with Debian's
# /usr/bin/python3 so that any user may run it (tests run chrony-snap as
# unprivileged users too).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
venv=${CHRONY_SNAP_VENV:-.venv}

packages=(chrony nginx python3-venv)
# tests: Chromium for the page, systemd-analyze for the units, systemd-nspawn
# to run the documented install under a real systemd (tests/test_units.py),
# Prometheus (prometheus, promtool) and node_exporter for the metrics tests
[ "$mode" = demo ] || packages+=(chromium systemd systemd-container util-linux prometheus prometheus-node-exporter)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages: ${missing[*]}; run as root or: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  # Debian would start chronyd (which then talks to the NTP pool), nginx,
  # prometheus and node_exporter right after installing them: nothing of ours
  # uses the system services.
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ "$added_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv "$venv"
fi
if [ "$mode" = demo ]; then
  check="import chrony_snap, jinja2, watchdog"
  spec="."
else
  check="import chrony_snap, jinja2, watchdog, pytest, jsonschema, playwright, ruff, prometheus_client"
  spec=".[test]"
fi
if ! "$venv/bin/python" -c "$check" 2>/dev/null || [ pyproject.toml -nt "$venv/.installed" ]; then
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q hatchling
  "$venv/bin/pip" install -q --no-build-isolation -e "$spec"
  touch "$venv/.installed"
fi

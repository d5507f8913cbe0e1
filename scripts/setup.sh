#!/usr/bin/env bash
# Install what chrony-snap's demo and tests need on a fresh Debian 12 machine
# (run as root; idempotent: a second run installs nothing).
#   apt: chrony (chronyd + chronyc), nginx, chromium (browser tests), python3-venv
#   pip: the project with its test extras, into ./.venv
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(chrony nginx chromium python3-venv systemd util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  # Debian would start chronyd (which then talks to the NTP pool) and nginx
  # right after installing them: nothing of ours needs the system services.
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  [ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# Debian's Python (any user may run it: the tests run chrony-snap as unprivileged users too)
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import chrony_snap, jinja2, watchdog, pytest, jsonschema, playwright" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q hatchling
  .venv/bin/pip install -q --no-build-isolation -e '.[test]'
  touch .venv/.installed
fi

#!/usr/bin/env bash
# Run chrony-snap's whole test suite: real chronyd, real nginx, real Chromium.
# Installs what is missing first (scripts/setup.sh). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"

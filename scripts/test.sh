#!/usr/bin/env bash
# Run chrony-snap's checks: ruff (lint, then format) and the whole test suite
# (real chronyd, real nginx, real Chromium). Installs what is missing first
# (scripts/setup.sh). Extra arguments go to pytest. The tests run even when
# ruff finds something; the exit status is non-zero if either failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
lint=0
.venv/bin/ruff check . || lint=1
.venv/bin/ruff format --check . || lint=1
tests=0
.venv/bin/python -m pytest -q "$@" || tests=$?
if [ "$lint" -ne 0 ]; then
  echo "test.sh: ruff found problems (fix: .venv/bin/ruff check --fix . && .venv/bin/ruff format .)" >&2
fi
if [ "$tests" -ne 0 ]; then exit "$tests"; fi
exit "$lint"

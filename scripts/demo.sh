#!/usr/bin/env bash
# The README's first command (`make demo`): the sandbox and airflow standalone, onboarding runs
# triggered over Airflow's REST API, a summary; exit 0 only if every outcome is the expected one.
# `scripts/demo.sh stop` stops a demo left running with KEEP=1. Settings: see scripts/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
# airflow standalone starts its components as `airflow ...` from PATH.
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python scripts/demo.py "$@"

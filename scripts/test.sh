#!/usr/bin/env bash
# The README's test command: every test, on a fresh clone, with nothing installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"

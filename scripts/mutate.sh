#!/usr/bin/env bash
# Mutation testing of the critical modules against their own tests (scripts/mutate.py; docs/mutation.md).
# Not part of `make test`: a full run takes tens of minutes. `scripts/mutate.sh webhooks/body.py` runs one
# module; MUTATE_JOBS=2 runs two mutants at a time (default 1: the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
exec .venv/bin/python scripts/mutate.py "$@"

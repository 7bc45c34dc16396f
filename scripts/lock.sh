#!/usr/bin/env bash
# `make lock`: compile requirements.in (+ the dependencies of pyproject.toml and of the sandbox's
# sandbox/pyproject.toml: the compose image runs it) into requirements.txt, and
# requirements-dev.in into requirements-dev.txt, each a universal lock (Python 3.11-3.13, any platform)
# with every package pinned and hashed. Existing pins are kept unless an input asks otherwise;
# `make lock UPGRADE=1` (or `scripts/lock.sh --upgrade`, `--upgrade-package NAME`) moves them.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=("$@")
[ "${UPGRADE:-}" = "1" ] && extra+=(--upgrade)
compile() {
  local output="$1"
  shift
  scripts/uv.sh pip compile --quiet pyproject.toml sandbox/pyproject.toml "$@" --extra postgres \
    --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "make lock" --output-file "$output" ${extra[@]+"${extra[@]}"}
}
compile requirements.txt requirements.in
compile requirements-dev.txt requirements-dev.in
echo "locked: requirements.txt ($(grep -c '^[a-z]' requirements.txt) packages)," \
  "requirements-dev.txt ($(grep -c '^[a-z]' requirements-dev.txt) packages)"

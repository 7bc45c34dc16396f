#!/usr/bin/env bash
# Print the path of a working Python interpreter of the first of the given versions found (e.g.
# `scripts/find-python.sh 3.12`, or `3.11 3.12 3.13` for any supported one), or fail saying how to get one.
# Looks on PATH, then among pyenv's versions (whose shims answer only for pyenv's global version).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scripts/find-python.sh VERSION..." >&2; exit 2; }
tried=()
for version in "$@"; do
  candidates=("python$version")
  if command -v pyenv >/dev/null 2>&1; then
    for dir in "$(pyenv root)/versions/$version".*; do
      candidates+=("$dir/bin/python$version")
    done
  fi
  candidates+=("/usr/bin/python$version" "/usr/local/bin/python$version")
  for candidate in "${candidates[@]}"; do
    if "$candidate" -c 'import sys, venv' >/dev/null 2>&1; then
      command -v "$candidate"
      exit 0
    fi
  done
  tried+=("${candidates[@]}")
done
echo "find-python: no Python $* found (tried ${tried[*]}); install one (\`pyenv install $1\`," \
  "Debian's python$1) or set PYTHON=/path/to/python$1" >&2
exit 1

#!/usr/bin/env bash
# Debian packages the tests need beyond the virtualenv:
# - docker-compose (1.29): validates docker-compose.yaml with `docker-compose config -q`, no engine needed;
# - chromium (+ a font): the browser Playwright drives in the dashboard's e2e test (`playwright install`
#   is never run: it would download a browser build of its own);
# - postgresql, redis-server: the servers' binaries. The tests use the machine's PostgreSQL (127.0.0.1:5432)
#   and Redis (127.0.0.1:6379) when they answer, else start private ones from these (devstack/services.py).
# Idempotent: installs only what is missing, and runs `apt-get update` at most once.
# Without root (and no sudo) it warns and exits 0 outside CI; in CI (CI=true) it fails.
set -euo pipefail
PACKAGES=(docker-compose chromium fonts-dejavu-core postgresql redis-server)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  elif [ "${CI:-}" = "true" ]; then
    echo "ci-deps: need root to install ${missing[*]}" >&2
    exit 1
  else
    echo "ci-deps: not root; skipping ${missing[*]} (the tests that need them are skipped)" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

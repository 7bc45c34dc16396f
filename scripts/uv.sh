#!/usr/bin/env bash
# The project's pinned uv: every script that resolves or installs packages runs it through here, so the
# lock is made and installed by one uv version. Installed on first use into .tools/ (ignored by git).
set -euo pipefail
UV_VERSION=0.13.8
tool="$(cd "$(dirname "$0")/.." && pwd)/.tools/uv-$UV_VERSION"
if [ ! -x "$tool/bin/uv" ]; then
  python3 -m venv "$tool"
  "$tool/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi
exec "$tool/bin/uv" "$@"

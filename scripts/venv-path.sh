# Sourced by the scripts that use the virtual environment: which one. PYTHON_VERSION=3.12 (or 3.13)
# selects .venv-3.12 on that Python; unset (or 3.11), it is .venv, on 3.11 (else 3.12, else 3.13).
# VENV overrides the directory.
if [ -n "${PYTHON_VERSION:-}" ] && [ "$PYTHON_VERSION" != "3.11" ]; then
  VENV="${VENV:-.venv-$PYTHON_VERSION}"
else
  VENV="${VENV:-.venv}"
fi

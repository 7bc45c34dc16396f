"""pyproject.toml's package-data: the wheel holds every non-Python file the packages read at run time.

Development installs the project editable (the source tree is on the path), production installs the
wheel (Dockerfile: ``pip install /opt/catena``): a file outside every package-data glob is missing only
in production (the dashboard would answer 500 there), and a glob that matches nothing hides a renamed
or removed folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PACKAGE_DATA: dict[str, list[str]] = PYPROJECT["tool"]["setuptools"]["package-data"]
#: Documentation for the people working on a package, not read by it.
NOT_RUNTIME = {"README.md"}
#: Files the code opens by path, each checked in the built wheel by name.
READ_AT_RUN_TIME = (
    "catena_airflow/ui/static/dashboard.html",
    "catena_airflow/ui/static/icon.svg",
    "catena_airflow/ui/static/icon-dark.svg",
    "catena_sandbox/data/telematics_spec.json",
)


def _package_dir(package: str) -> Path:
    for where in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"]:
        if (REPO_ROOT / where / package / "__init__.py").is_file():
            return REPO_ROOT / where / package
    raise AssertionError(f"package-data names {package}, which no packages.find folder holds")


def _data_files(package: str) -> set[str]:
    """The package's non-Python files, relative to it (caches and documentation left out)."""
    root = _package_dir(package)
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and "__pycache__" not in path.parts
        and path.name not in NOT_RUNTIME
    }


def _matched(package: str, pattern: str) -> set[str]:
    root = _package_dir(package)
    return {path.relative_to(root).as_posix() for path in root.glob(pattern) if path.is_file()}


@pytest.mark.parametrize(
    ("package", "pattern"), [(package, pattern) for package, patterns in PACKAGE_DATA.items() for pattern in patterns]
)
def test_every_package_data_glob_matches_a_file(package: str, pattern: str) -> None:
    assert _matched(package, pattern), f"{package}: {pattern!r} matches no file"


@pytest.mark.parametrize("package", sorted(PACKAGE_DATA))
def test_every_non_python_file_is_package_data(package: str) -> None:
    covered = set().union(*(_matched(package, pattern) for pattern in PACKAGE_DATA[package]))
    assert _data_files(package) - covered == set()


def test_the_wheel_holds_the_package_data(tmp_path: Path) -> None:
    """Build the wheel from a copy of the sources (setuptools from the lock, no network) and read it."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    for folder in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"]:
        shutil.copytree(REPO_ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path / "dist"
    out.mkdir()
    build = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    wheel = out / result.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"{package}/{name}" for package in PACKAGE_DATA for name in _data_files(package)}
    assert expected >= set(READ_AT_RUN_TIME)
    assert expected - names == set()
    assert "catena_airflow/py.typed" in names

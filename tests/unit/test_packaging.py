"""The two distributions' package-data: each wheel holds every non-Python file its packages read at run time.

Development installs both editable (the source tree is on the path), production installs wheels
(Dockerfile: ``pip install /opt/catena /opt/catena/sandbox``): a file outside every package-data glob is
missing only in production (the dashboard would answer 500 there), and a glob that matches nothing hides
a renamed or removed folder. The provider's wheel (``catena-airflow``) carries none of the sandbox
(``catena-sandbox``, built from ``sandbox/``).
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
#: Each distribution's folder (where its pyproject.toml is), relative to the repository.
DISTRIBUTIONS = {"catena-airflow": ".", "catena-sandbox": "sandbox"}
#: Documentation for the people working on a package, not read by it.
NOT_RUNTIME = {"README.md"}
#: Files the code opens by path, each checked in its built wheel by name.
READ_AT_RUN_TIME = {
    "catena-airflow": (
        "catena_airflow/ui/static/dashboard.html",
        "catena_airflow/ui/static/icon.svg",
        "catena_airflow/ui/static/icon-dark.svg",
    ),
    "catena-sandbox": ("catena_sandbox/data/telematics_spec.json",),
}


def _root(distribution: str) -> Path:
    return REPO_ROOT / DISTRIBUTIONS[distribution]


def _pyproject(distribution: str) -> dict:
    return tomllib.loads((_root(distribution) / "pyproject.toml").read_text())


def _package_data(distribution: str) -> dict[str, list[str]]:
    return _pyproject(distribution)["tool"]["setuptools"]["package-data"]


def _where(distribution: str) -> list[str]:
    return _pyproject(distribution)["tool"]["setuptools"]["packages"]["find"].get("where", ["."])


def _package_dir(distribution: str, package: str) -> Path:
    for where in _where(distribution):
        if (_root(distribution) / where / package / "__init__.py").is_file():
            return _root(distribution) / where / package
    raise AssertionError(f"{distribution}'s package-data names {package}, which no packages.find folder holds")


def _data_files(distribution: str, package: str) -> set[str]:
    """The package's non-Python files, relative to it (caches and documentation left out)."""
    root = _package_dir(distribution, package)
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and "__pycache__" not in path.parts
        and path.name not in NOT_RUNTIME
    }


def _matched(distribution: str, package: str, pattern: str) -> set[str]:
    root = _package_dir(distribution, package)
    return {path.relative_to(root).as_posix() for path in root.glob(pattern) if path.is_file()}


GLOBS = [
    (distribution, package, pattern)
    for distribution in DISTRIBUTIONS
    for package, patterns in _package_data(distribution).items()
    for pattern in patterns
]


@pytest.mark.parametrize(("distribution", "package", "pattern"), GLOBS)
def test_every_package_data_glob_matches_a_file(distribution: str, package: str, pattern: str) -> None:
    assert _matched(distribution, package, pattern), f"{distribution} {package}: {pattern!r} matches no file"


@pytest.mark.parametrize(("distribution", "package"), [(d, p) for d in DISTRIBUTIONS for p in sorted(_package_data(d))])
def test_every_non_python_file_is_package_data(distribution: str, package: str) -> None:
    patterns = _package_data(distribution)[package]
    covered = set().union(*(_matched(distribution, package, pattern) for pattern in patterns))
    assert _data_files(distribution, package) - covered == set()


def _built_wheel(distribution: str, tmp_path: Path) -> set[str]:
    """Build the wheel from a copy of the distribution's sources (setuptools from the lock, no network)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(_root(distribution) / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in _where(distribution):
        if folder == ".":
            for package in _package_data(distribution):
                shutil.copytree(_package_dir(distribution, package), source / package, ignore=ignore)
        else:
            shutil.copytree(_root(distribution) / folder, source / folder, ignore=ignore)
    out = tmp_path / "dist"
    out.mkdir()
    build = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(zipfile.ZipFile(out / result.stdout.strip().splitlines()[-1]).namelist())


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_the_wheel_holds_the_package_data(distribution: str, tmp_path: Path) -> None:
    names = _built_wheel(distribution, tmp_path)
    data = _package_data(distribution)
    expected = {f"{package}/{name}" for package in data for name in _data_files(distribution, package)}
    assert expected >= set(READ_AT_RUN_TIME[distribution])
    assert expected - names == set()


def test_the_provider_wheel_carries_no_sandbox(tmp_path: Path) -> None:
    names = _built_wheel("catena-airflow", tmp_path)
    assert "catena_airflow/py.typed" in names
    assert not [name for name in names if name.startswith("catena_sandbox")]
    assert not [line for line in _entry_points(names, tmp_path) if "catena_sandbox" in line]


def _entry_points(names: set[str], tmp_path: Path) -> list[str]:
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    return zipfile.ZipFile(wheel).read(entry_points).decode().splitlines()

"""The locks: requirements.txt (production) and requirements-dev.txt (development), made by `make lock`.

Checked offline: every package is pinned and hashed, production's pins are development's too, every
requirement of the inputs (requirements*.in, pyproject.toml, sandbox/pyproject.toml) is met by the lock on
every supported Python, and what docker-compose.yaml selects imports and finds its drivers in this environment.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ("3.11", "3.12", "3.13")


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: int

    def applies(self, python: str) -> bool:
        return self.marker is None or self.marker.evaluate(_environment(python))


def _environment(python: str) -> dict[str, str]:
    return {
        "python_version": python,
        "python_full_version": f"{python}.1",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "extra": "",
    }


def _pins(name: str) -> list[Pin]:
    """Each ``package==version [; marker]`` entry of a compiled lock, with its number of hashes."""
    text = (REPO_ROOT / name).read_text()
    pins = []
    # An entry: the pin line, then its `--hash=` continuation lines.
    for entry in re.split(r"\n(?=\S)", text):
        first = entry.split("\\", 1)[0].strip()
        if not first or first.startswith("#"):
            continue
        requirement = Requirement(first)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{name}: {first} is not pinned"
        pins.append(
            Pin(
                name=canonicalize_name(requirement.name),
                version=Version(specifier.version),
                marker=requirement.marker,
                hashes=entry.count("--hash=sha256:"),
            )
        )
    return pins


def _resolved(name: str, python: str) -> dict[str, Version]:
    """What the lock installs on ``python``: one version per package."""
    chosen: dict[str, Version] = {}
    for pin in _pins(name):
        if pin.applies(python):
            assert pin.name not in chosen, f"{name}: two pins of {pin.name} apply on Python {python}"
            chosen[pin.name] = pin.version
    return chosen


def _input_requirements(name: str) -> list[Requirement]:
    """The requirements of a ``.in`` file, following ``-r`` (``-c`` constraints are not requirements)."""
    requirements = []
    for line in (REPO_ROOT / name).read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-c")):
            continue
        if line.startswith("-r"):
            requirements += _input_requirements(line.split(None, 1)[1])
        else:
            requirements.append(Requirement(line))
    return requirements


def _pyproject(path: str = "pyproject.toml") -> dict:
    return tomllib.loads((REPO_ROOT / path).read_text())


def _project_requirements() -> list[Requirement]:
    """The provider's dependencies (extra ``postgres`` included) and the sandbox distribution's."""
    project, sandbox = _pyproject()["project"], _pyproject("sandbox/pyproject.toml")["project"]
    texts = [*project["dependencies"], *project["optional-dependencies"]["postgres"], *sandbox["dependencies"]]
    return [Requirement(text) for text in texts]


LOCKS = {
    "requirements.txt": lambda: [*_project_requirements(), *_input_requirements("requirements.in")],
    "requirements-dev.txt": lambda: [*_project_requirements(), *_input_requirements("requirements-dev.in")],
}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_package_is_pinned_and_hashed(lock):
    pins = _pins(lock)
    assert len(pins) > 150
    assert [pin.name for pin in pins if pin.hashes == 0] == []


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_meets_every_input_requirement_on_every_supported_python(lock, python):
    installed = _resolved(lock, python)
    unmet = []
    for requirement in LOCKS[lock]():
        if requirement.marker is not None and not requirement.marker.evaluate(_environment(python)):
            continue
        version = installed.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            unmet.append(f"{requirement} (locked: {version})")
    assert unmet == [], f"run `make lock`: the lock does not meet {unmet} on Python {python}"


@pytest.mark.parametrize("python", PYTHONS)
def test_development_keeps_the_production_pins(python):
    production = _resolved("requirements.txt", python)
    development = _resolved("requirements-dev.txt", python)
    differ = {name: (version, development.get(name)) for name, version in production.items()}
    assert {name: pair for name, pair in differ.items() if pair[0] != pair[1]} == {}


def test_production_holds_what_the_compose_topology_runs():
    installed = _resolved("requirements.txt", "3.11")
    for name in (
        "apache-airflow",
        "apache-airflow-providers-celery",  # AIRFLOW__CORE__EXECUTOR: CeleryExecutor
        "apache-airflow-providers-fab",  # AIRFLOW__CORE__AUTH_MANAGER: FabAuthManager
        "apache-airflow-providers-postgres",
        "redis",  # the broker
        "psycopg2-binary",  # postgresql+psycopg2://
        "psycopg",  # plain postgresql://, db+postgresql:// under SQLAlchemy 2.1
        "psycopg-binary",
        "asyncpg",  # Airflow's async engine on a PostgreSQL metadata database
    ):
        assert name in installed, name
    assert installed["apache-airflow"] == Version("3.3.2")
    assert installed["celery"] in SpecifierSet("<5.7"), "celery 5.7 breaks apache-airflow-providers-celery 3.26"


@pytest.mark.parametrize("path", ["pyproject.toml", "sandbox/pyproject.toml"])
def test_requires_python_covers_the_supported_versions(path):
    project = _pyproject(path)["project"]
    specifier = SpecifierSet(project["requires-python"])
    assert all(specifier.contains(f"{python}.0") for python in PYTHONS)
    assert not specifier.contains("3.10.0")
    assert {f"Programming Language :: Python :: {python}" for python in PYTHONS} <= set(project["classifiers"])


# --- what the compose file selects, imported in this environment ----------------------------------


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql+psycopg2://airflow:pw@postgres/airflow", "psycopg2"),  # the metadata database
        # A plain URL (the result backend's db+postgresql://, a destination); the inbox needs +psycopg2.
        ("postgresql://catena:pw@postgres/catena_data", "psycopg"),
        ("postgresql+asyncpg://airflow:pw@postgres/airflow", "asyncpg"),  # Airflow's async engine
    ],
)
def test_each_postgres_url_finds_its_driver(url, driver):
    from sqlalchemy import create_engine
    from sqlalchemy.ext.asyncio import create_async_engine

    # Creating an engine imports the DBAPI module (ModuleNotFoundError if missing) but does not connect.
    engine = (create_async_engine if "asyncpg" in url else create_engine)(url)
    try:
        assert engine.dialect.driver == driver
    finally:
        (engine.sync_engine if hasattr(engine, "sync_engine") else engine).dispose()


def test_the_celery_executor_and_its_database_result_backend_import():
    from airflow.providers.celery.executors.celery_executor import CeleryExecutor
    from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager
    from celery.backends.database import DatabaseBackend  # db+postgresql:// (AIRFLOW__CELERY__RESULT_BACKEND)

    assert DatabaseBackend and CeleryExecutor and FabAuthManager

"""README "Deploying into an existing Airflow": what it says that can be checked here is true."""

from __future__ import annotations

import re
from pathlib import Path

import airflow
import pytest

from catena_airflow import __version__, config
from catena_airflow.plugin import CatenaPlugin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Deploying into an existing Airflow")
    return readme[start : readme.index("\n## ", start + 1)]


def _table_rows(section: str) -> dict[str, list[str]]:
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 4:
            rows[cells[0].split("`")[1]] = cells
    return rows


def test_every_option_is_documented_with_its_alias_and_sensitivity(section):
    rows = _table_rows(section)
    assert set(rows) == set(config.OPTION_BY_KEY)
    for key, (name, alias, _default, _meaning) in rows.items():
        option = config.OPTION_BY_KEY[key]
        assert ("(sensitive)" in name) == option.sensitive, key
        assert alias == (f"`{option.alias}`" if option.alias else ""), key


def test_documented_defaults_are_the_declared_ones(section):
    for key, (_name, _alias, default, _meaning) in _table_rows(section).items():
        declared = config.OPTION_BY_KEY[key].default
        if declared is not None:
            assert default == f"`{declared}`", key


def test_the_install_command_names_this_airflow_and_this_wheel(section):
    assert f"AIRFLOW_VERSION={airflow.__version__}" in section
    assert f"catena_airflow-{__version__}-py3-none-any.whl[postgres]" in section
    assert f"apache/airflow:{airflow.__version__}-python" in section


def test_the_dag_files_it_names_exist(section):
    named = set(re.findall(r"`dags/([a-z_]+\.py)`", section))
    assert named == {path.name for path in (ROOT / "dags").glob("catena_*.py")}


def test_the_receiver_paths_it_names_are_served():
    (mount,) = CatenaPlugin.fastapi_apps
    paths = {f"{mount['url_prefix']}{route.path}" for route in mount["app"].routes}
    assert {"/catena/webhooks", "/catena/webhooks/health"} <= paths

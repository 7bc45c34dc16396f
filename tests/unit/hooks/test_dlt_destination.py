"""The dlt loader's destination from an Airflow connection, else the environment's default."""

from __future__ import annotations

import json

import pytest

from catena_airflow.hooks.dlt_destination import resolve_load_settings
from catena_airflow.ingest.dlt_destination import DESTINATION_ENV, PIPELINES_DIR_ENV


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for name in (DESTINATION_ENV, PIPELINES_DIR_ENV, "AIRFLOW_CONN_CATENA_DLT_DESTINATION"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_connection_the_duckdb_file_under_airflow_home(tmp_path):
    settings = resolve_load_settings()
    assert settings.destination == f"duckdb:///{tmp_path / 'catena_data.duckdb'}"
    assert settings.pipelines_dir == tmp_path / "dlt" / "pipelines"
    assert settings.dataset_name == "catena"


def test_a_postgres_connection_uri(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CATENA_DLT_DESTINATION", "postgres://catena:pw@db.internal:5432/catena_data")
    assert resolve_load_settings().destination == "postgresql+psycopg2://catena:pw@db.internal:5432/catena_data"


def test_connection_extras_name_a_dlt_destination_dataset_and_state_dir(monkeypatch, tmp_path):
    extra = {"destination": "bigquery", "dataset_name": "fleets", "pipelines_dir": str(tmp_path / "state")}
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "generic", "extra": extra}))
    settings = resolve_load_settings("warehouse")
    assert (settings.destination, settings.dataset_name) == ("bigquery", "fleets")
    assert settings.pipelines_dir == tmp_path / "state"

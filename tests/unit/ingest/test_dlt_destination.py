"""Destination and state directory come from configuration: the URL or name given, else the environment."""

from __future__ import annotations

import pytest

from catena_airflow.ingest.dlt_destination import (
    DESTINATION_ENV,
    PIPELINES_DIR_ENV,
    default_destination,
    default_pipelines_dir,
    dlt_destination,
    duckdb_file,
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv(DESTINATION_ENV, raising=False)
    monkeypatch.delenv(PIPELINES_DIR_ENV, raising=False)
    return tmp_path


def test_the_embedded_default_is_a_duckdb_file_and_state_under_airflow_home(home):
    assert default_destination() == f"duckdb:///{home / 'catena_data.duckdb'}"
    assert default_pipelines_dir() == home / "dlt" / "pipelines"


def test_the_environment_overrides_both(home, monkeypatch):
    monkeypatch.setenv(DESTINATION_ENV, "postgresql://u@db/catena_data")
    monkeypatch.setenv(PIPELINES_DIR_ENV, str(home / "state"))
    assert default_destination() == "postgresql://u@db/catena_data"
    assert default_pipelines_dir() == home / "state"


def test_a_duckdb_url_is_that_file(home):
    destination = dlt_destination(f"duckdb:///{home / 'sub' / 'x.duckdb'}")
    assert destination.destination_type == "dlt.destinations.duckdb"
    assert (home / "sub").is_dir()


@pytest.mark.parametrize(
    "url", ["postgresql://u@127.0.0.1/d", "postgres://u@127.0.0.1/d", "postgresql+psycopg2://u@127.0.0.1/d"]
)
def test_postgresql_urls_of_every_spelling(url):
    destination = dlt_destination(url)
    assert destination.destination_type == "dlt.destinations.postgres"
    credentials = destination.config_params["credentials"]
    assert (credentials.username, credentials.host, credentials.database) == ("u", "127.0.0.1", "d")
    assert credentials.password == ""  # none in the URL: libpq sends none


def test_a_postgresql_password_in_the_url_is_kept():
    assert dlt_destination("postgresql://u:s3cret@h/d").config_params["credentials"].password == "s3cret"


def test_a_bare_name_is_a_dlt_destination_configured_the_dlt_way():
    assert dlt_destination("filesystem").destination_type == "dlt.destinations.filesystem"


@pytest.mark.parametrize("spec", ["", "duckdb://", "mysql://u@h/d"])
def test_what_cannot_be_a_destination_is_refused(spec):
    with pytest.raises(ValueError):
        dlt_destination(spec)


def test_duckdb_file_names_the_file_of_a_duckdb_destination_only(tmp_path):
    assert duckdb_file(f"duckdb:///{tmp_path / 'x.duckdb'}") == tmp_path / "x.duckdb"
    assert duckdb_file("postgresql://u@h/d") is None
    assert duckdb_file("duckdb:///") is None

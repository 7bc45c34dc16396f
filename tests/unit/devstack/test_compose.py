from __future__ import annotations

import json

import pytest

from devstack.compose import ComposeError, ComposeFile, Endpoint, Localization, interpolate

SECRETS = {"AIRFLOW_FERNET_KEY": "f", "AIRFLOW_JWT_SECRET": "j", "AIRFLOW_API_SECRET_KEY": "s"}


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("${A}", {}, ""),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A-d}", {}, "d"),
        ("${A:-http://x:1/y}", {}, "http://x:1/y"),
        ("$${HOSTNAME} and $$", {}, "${HOSTNAME} and $"),
        ("a${A}b${B:-c}", {"A": "-"}, "a-bc"),
    ],
)
def test_interpolate_as_compose_does(text, variables, expected):
    assert interpolate(text, variables) == expected


@pytest.mark.parametrize(("text", "variables"), [("${A:?set A}", {}), ("${A:?set A}", {"A": ""}), ("${A?set A}", {})])
def test_a_required_variable_that_is_missing_is_an_error(text, variables):
    with pytest.raises(ComposeError, match="A: set A"):
        interpolate(text, variables)


def test_the_compose_file_gives_each_service_its_merged_environment():
    compose = ComposeFile(variables=SECRETS)
    api = compose.environment("airflow-apiserver")
    worker = compose.environment("airflow-worker")
    assert api["AIRFLOW__CORE__EXECUTOR"] == worker["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert api["CATENA_TUNE_GC"] == "true" and "CATENA_TUNE_GC" not in worker
    assert worker["AIRFLOW__CORE__FERNET_KEY"] == "f"
    assert compose.command("airflow-worker") == ["celery", "worker"]
    assert compose.command("airflow-init")[0] == "-c"


def test_a_missing_secret_stops_the_read():
    with pytest.raises(ComposeError, match="AIRFLOW_JWT_SECRET"):
        ComposeFile(variables={"AIRFLOW_FERNET_KEY": "f"}).environment("airflow-scheduler")


LOCAL = Localization(
    endpoints={
        ("postgres", 5432): Endpoint(
            "127.0.0.1", 5433, userinfo="postgres", paths={"airflow": "meta_1", "catena_inbox": "inbox_1"}
        ),
        ("redis", 6379): Endpoint("127.0.0.1", 6380, paths={"0": "7"}),
        ("airflow-apiserver", 8080): Endpoint("127.0.0.1", 18080),
    },
    services=frozenset({"postgres", "redis", "airflow-apiserver", "catena-sandbox"}),
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "postgresql+psycopg2://airflow:pw@postgres/airflow",
            "postgresql+psycopg2://postgres@127.0.0.1:5433/meta_1",
        ),
        ("db+postgresql://airflow:pw@postgres/airflow", "db+postgresql://postgres@127.0.0.1:5433/meta_1"),
        ("postgresql://catena:pw@postgres:5432/catena_inbox", "postgresql://postgres@127.0.0.1:5433/inbox_1"),
        ("redis://:@redis:6379/0", "redis://:@127.0.0.1:6380/7"),
        ("http://airflow-apiserver:8080/execution/", "http://127.0.0.1:18080/execution/"),
        # Addresses outside the compose network are left alone.
        ("https://api.catenatelematics.com/v2", "https://api.catenatelematics.com/v2"),
        ("http://localhost:8090", "http://localhost:8090"),
        ("false", "false"),
    ],
)
def test_urls_to_compose_services_become_their_local_stand_ins(value, expected):
    assert LOCAL.value(value) == expected


def test_urls_inside_json_are_rewritten_and_the_json_stays_valid():
    value = '{"host": "http://airflow-apiserver:8080", "extra": {"url": "http://airflow-apiserver:8080/x"}}'
    assert json.loads(LOCAL.value(value)) == {
        "host": "http://127.0.0.1:18080",
        "extra": {"url": "http://127.0.0.1:18080/x"},
    }


@pytest.mark.parametrize(
    "value",
    [
        "http://catena-sandbox:8090/realms",  # a service without a stand-in
        "http://airflow-apiserver:9999/",  # a port without one
        "postgresql://airflow@postgres/catena_data",  # a database without one
        "redis://redis:6379/1",
    ],
)
def test_a_compose_address_without_a_local_stand_in_is_an_error(value):
    with pytest.raises(ComposeError, match="no local stand-in"):
        LOCAL.value(value)

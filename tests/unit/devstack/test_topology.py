from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devstack.topology import INIT, TRIGGERER, WORKER, ProductionTopology, TopologySettings, localization

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", TRIGGERER, WORKER, INIT)
COMPOSE_HOST = re.compile(r"://([^/@\s\"]*@)?(postgres|redis|airflow-apiserver|catena-sandbox)[:/\"]")


def _settings(tmp_path: Path, **overrides) -> TopologySettings:
    values = {
        "home": tmp_path / "home",
        "postgres": {
            "airflow": f"{PG}/meta_1",
            "catena_inbox": f"{PG}/inbox_1",
            "catena_warehouse": f"{PG}/warehouse_1",
        },
        "redis_url": "redis://127.0.0.1:6379/7",
        "sandbox_url": "http://127.0.0.1:18090",
        "api_port": 18080,
        "venv_bin": Path("/opt/venv/bin"),
    }
    values.update(overrides)
    return TopologySettings(**values)


@pytest.fixture
def topology(tmp_path):
    topology = ProductionTopology(_settings(tmp_path))
    yield topology
    topology.stop()


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_no_value_of_any_component_still_points_into_the_compose_network(topology, service):
    env = topology.environment(service)
    assert {key: value for key, value in env.items() if COMPOSE_HOST.search(value)} == {}


def test_the_compose_environment_is_localized(topology):
    env = topology.environment("airflow-scheduler")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    # The compose scheme (and so the driver) stays; the server, credentials and database are local.
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"{PG}/meta_1"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://postgres@127.0.0.1:5432/meta_1"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@127.0.0.1:6379/7"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["CATENA_INBOX_URL"] == f"{PG}/inbox_1"
    assert env["AIRFLOW_VAR_CATENA_RECEIVER_URL"] == "http://127.0.0.1:18080/catena/webhooks"
    connection = json.loads(env["AIRFLOW_CONN_CATENA_DEFAULT"])
    assert connection["host"] == "http://127.0.0.1:18090"
    assert connection["extra"]["auth_url"] == "http://127.0.0.1:18090/realms/catena/protocol/openid-connect/token"


def test_the_shared_secrets_are_the_same_in_every_component(topology):
    keys = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
    values = {tuple(topology.environment(service)[key] for key in keys) for service in AIRFLOW_SERVICES}
    assert len(values) == 1 and all(values.pop())


def test_the_api_server_gets_its_own_compose_setting_and_the_rest_do_not(topology):
    assert topology.environment("airflow-apiserver")["CATENA_TUNE_GC"] == "true"
    assert "CATENA_TUNE_GC" not in topology.environment(WORKER)


def test_process_settings_come_on_top_and_enclosing_airflow_settings_do_not_leak(topology, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    env = topology.environment(TRIGGERER, {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "18794"})
    assert env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] == "18794"
    assert "AIRFLOW__CORE__UNIT_TEST_MODE" not in env
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["AIRFLOW_HOME"] == str(topology.settings.home.resolve())


def test_init_runs_the_python_steps_of_the_compose_script(topology):
    steps = topology._init_script_python_steps()
    assert [step[:2] for step in steps] == [["/opt/venv/bin/python", "-c"]]
    assert "InboxStore(inbox_url()).migrate()" in steps[0][2]
    assert topology.admin_user == "airflow"


def test_the_compose_databases_must_share_one_server(tmp_path):
    settings = _settings(tmp_path, postgres={"airflow": f"{PG}/a", "catena_inbox": "postgresql://x@10.0.0.1/b"})
    with pytest.raises(ValueError, match="share one server"):
        localization(settings, ["postgres"])

from __future__ import annotations

import json
from pathlib import Path

from devstack.standalone import AirflowStandalone, CatenaConnection, StandaloneSettings, standalone_environment


def _settings(tmp_path: Path, **overrides) -> StandaloneSettings:
    values = {
        "airflow_home": tmp_path / "home",
        "catena": CatenaConnection.for_sandbox("http://127.0.0.1:9999/"),
        "api_port": 18080,
        "venv_bin": Path("/opt/venv/bin"),
    }
    values.update(overrides)
    return StandaloneSettings(**values)


def test_environment_points_every_component_at_the_configured_port(tmp_path):
    env = standalone_environment(_settings(tmp_path), base_env={"PATH": "/usr/bin"})

    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert {
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"],
        env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"],
    }.isdisjoint({"8793", "8794", "18080"})


def test_metadata_and_inbox_default_to_absolute_sqlite_paths_under_the_home(tmp_path):
    env = standalone_environment(_settings(tmp_path), base_env={})
    home = (tmp_path / "home").resolve()

    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home}/airflow.db"
    assert env["CATENA_INBOX_URL"] == f"sqlite:///{home}/catena_inbox.db"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(home / "plugins")


def test_a_given_inbox_url_is_used(tmp_path):
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/inbox"
    env = standalone_environment(_settings(tmp_path, inbox_url=url), base_env={})
    assert env["CATENA_INBOX_URL"] == url


def test_settings_of_an_enclosing_airflow_do_not_leak_in(tmp_path):
    enclosing = {
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW_CONN_OTHER": "http://x",
        "AIRFLOW_VAR_X": "1",
        "HOME": "/root",
    }
    env = standalone_environment(_settings(tmp_path), base_env=enclosing)
    assert "AIRFLOW__CORE__UNIT_TEST_MODE" not in env
    assert "AIRFLOW_CONN_OTHER" not in env
    assert "AIRFLOW_VAR_X" not in env
    assert env["HOME"] == "/root"


def test_catena_connection_targets_the_sandbox(tmp_path):
    env = standalone_environment(_settings(tmp_path), base_env={})
    connection = json.loads(env["AIRFLOW_CONN_CATENA_DEFAULT"])
    assert connection == {
        "conn_type": "catena",
        "host": "http://127.0.0.1:9999",
        "login": "sandbox",
        "password": "sandbox-secret",
        "extra": {"auth_url": "http://127.0.0.1:9999/realms/catena/protocol/openid-connect/token"},
    }


def test_the_admin_password_is_written_before_start(tmp_path):
    settings = _settings(tmp_path, admin_password="known-pw")
    AirflowStandalone(settings).prepare_home()

    env = standalone_environment(settings, base_env={})
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert json.loads(passwords.read_text()) == {"admin": "known-pw"}
    assert passwords.stat().st_mode & 0o077 == 0
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert (tmp_path / "home" / "plugins").is_dir()


def test_each_stack_gets_its_own_jwt_secret_unless_given(tmp_path):
    assert _settings(tmp_path).jwt_secret != _settings(tmp_path).jwt_secret
    env = standalone_environment(_settings(tmp_path, jwt_secret="fixed"), base_env={})
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "fixed"

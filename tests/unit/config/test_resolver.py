"""The one rule, for every consumer: ``[catena]`` option, else its ``CATENA_*`` alias, else the default."""

from __future__ import annotations

import pytest
from airflow.configuration import conf

from catena_airflow import config


@pytest.fixture
def unset(monkeypatch):
    """No Catena setting in the environment, whatever the session set."""
    for option in config.OPTIONS:
        monkeypatch.delenv(f"AIRFLOW__CATENA__{option.key.upper()}", raising=False)
        if option.alias:
            monkeypatch.delenv(option.alias, raising=False)
    return monkeypatch


def test_option_then_alias_then_default(unset, tmp_path):
    unset.setenv("AIRFLOW_HOME", str(tmp_path))
    assert config.inbox_url() == f"sqlite:///{tmp_path / 'catena_inbox.db'}"
    unset.setenv("CATENA_INBOX_URL", "sqlite:////alias.db")
    assert config.inbox_url() == "sqlite:////alias.db"
    unset.setenv("AIRFLOW__CATENA__INBOX_URL", "postgresql://u@db/inbox")
    assert config.inbox_url() == "postgresql://u@db/inbox"


def test_airflow_cfg_wins_over_the_alias(unset):
    unset.setenv("CATENA_INBOX_URL", "sqlite:////alias.db")
    conf.set("catena", "inbox_url", "sqlite:////from-cfg.db")
    try:
        assert config.inbox_url() == "sqlite:////from-cfg.db"
    finally:
        conf.remove_option("catena", "inbox_url")
    assert config.inbox_url() == "sqlite:////alias.db"


def test_sensitive_options_take_a_command(unset):
    unset.setenv("AIRFLOW__CATENA__WEBHOOK_SECRETS_CMD", "echo ' new , old '")
    assert config.webhook_secrets() == ("new", "old")


@pytest.mark.parametrize(("value", "secrets"), [("", ()), ("one", ("one",)), (" old , new ,", ("old", "new"))])
def test_webhook_secrets_alias(unset, value, secrets):
    unset.setenv("CATENA_WEBHOOK_SECRET", value)
    assert config.webhook_secrets() == secrets


def test_fernet_key_falls_back_to_airflows(unset):
    unset.setenv("AIRFLOW__CORE__FERNET_KEY", "core-key")
    assert config.inbox_fernet_key() == "core-key"
    unset.setenv("CATENA_INBOX_FERNET_KEY", "alias-key")
    assert config.inbox_fernet_key() == "alias-key"
    unset.setenv("AIRFLOW__CATENA__INBOX_FERNET_KEY", "catena-key")
    assert config.inbox_fernet_key() == "catena-key"


def test_declared_defaults(unset):
    assert config.get_float("sensor_poll_interval") == 1.0
    assert config.get_float("reconcile_interval") == 300.0
    assert config.get_float("watcher_poll_interval") == 2.0
    assert config.get_int("dashboard_refresh_seconds") == 5
    assert config.get_bool("tune_gc") is False
    assert config.receiver_url() is None


def test_airflow_sees_the_section(unset):
    """``airflow config get-value catena ...`` answers from the provider's declaration."""
    assert conf.get("catena", "operations_dag_id") == "catena_fleet_operations"
    assert ("catena", "webhook_secrets") in conf.sensitive_config_values
    assert ("catena", "inbox_url") in conf.sensitive_config_values

from __future__ import annotations

import json

import pytest

from catena_airflow.hooks.inbox import CatenaInboxHook, inbox_store, resolve_inbox_url, sqlalchemy_url_from_connection


def test_a_named_connection_extra_url_wins(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'from-conn.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_CATENA_INBOX", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
    monkeypatch.setenv("CATENA_INBOX_URL", "sqlite:////elsewhere.db")
    assert resolve_inbox_url("catena_inbox") == url
    assert CatenaInboxHook(inbox_conn_id="catena_inbox").get_url() == url


def test_postgres_connection_uri_becomes_a_sqlalchemy_url(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MY_INBOX", "postgres://catena:pw@db.internal:5432/inbox")
    assert resolve_inbox_url("my_inbox") == "postgresql+psycopg2://catena:pw@db.internal:5432/inbox"


def test_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRFLOW__CATENA__INBOX_URL", raising=False)
    monkeypatch.setenv("CATENA_INBOX_URL", "sqlite:////x/inbox.db")
    assert resolve_inbox_url() == "sqlite:////x/inbox.db"
    monkeypatch.delenv("CATENA_INBOX_URL")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert resolve_inbox_url() == f"sqlite:///{tmp_path / 'catena_inbox.db'}"


def test_one_store_per_url_per_process(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    monkeypatch.setenv("CATENA_INBOX_URL", url)
    store = CatenaInboxHook().get_conn()
    assert store is inbox_store(url) is CatenaInboxHook().get_conn()
    assert store.schema_version() >= 1  # migrated on first use


def test_connection_without_usable_uri_is_refused():
    class Conn:
        conn_id = "x"
        extra_dejson: dict = {}

        def get_uri(self):
            return "no-scheme"

    with pytest.raises(ValueError, match="no usable database URI"):
        sqlalchemy_url_from_connection(Conn())

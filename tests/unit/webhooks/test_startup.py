"""The receiver checks its inbox at start-up: a bad configuration is an ERROR and a 503 health, with the reason."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from catena_airflow.app import create_plugin_app
from catena_airflow.webhooks.app import create_webhook_app
from catena_airflow.webhooks.config import ReceiverSettings
from catena_airflow.webhooks.receiver import WebhookReceiver
from catena_airflow.webhooks.startup import configured_executors, sqlite_problem
from devstack.processes import free_port
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.signing import SECRET, delivery


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("catena")]


def one_delivery(client: TestClient) -> int:
    content, headers = delivery(fe.body(fe.happy()[0]))
    return client.post("/catena/webhooks", content=content, headers=headers).status_code


@pytest.mark.parametrize(
    ("setting", "names"),
    [
        ("CeleryExecutor", ["CeleryExecutor"]),
        ("LocalExecutor,KubernetesExecutor", ["LocalExecutor", "KubernetesExecutor"]),
        ("fast:airflow.providers.celery.executors.celery_executor.CeleryExecutor", ["CeleryExecutor"]),
    ],
)
def test_executor_names(monkeypatch, setting, names):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", setting)
    assert configured_executors() == names


def test_sqlite_is_fine_under_local_executors_and_postgres_everywhere():
    assert sqlite_problem("sqlite:////x.db", ["LocalExecutor"]) is None
    assert sqlite_problem("postgresql://u@db/inbox", ["CeleryExecutor"]) is None


def test_a_healthy_receiver_says_so(make_client, sqlite_url):
    client = make_client(sqlite_url)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/catena/webhooks/health").status_code == 200
    assert one_delivery(client) == 202


def test_sqlite_inbox_under_celery_is_refused(make_client, sqlite_url, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    client = make_client(sqlite_url)
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["problem"] == "sqlite_not_shared" and "CeleryExecutor" in health.json()["reason"]
    assert client.get("/webhooks/health").status_code == 503
    assert any("SQLite" in message and "CeleryExecutor" in message for message in errors(caplog))
    assert one_delivery(client) == 503  # nothing committed to a file the workers cannot see
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_a_missing_driver_is_reported(make_client, postgres_url, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # as if the 'postgres' extra was not installed
    client = make_client(postgres_url)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["problem"] == "driver"
    assert "psycopg2" in health.json()["reason"]
    assert any("driver" in message for message in errors(caplog))
    assert one_delivery(client) == 503


def test_an_unreachable_database_is_reported_without_its_url(make_client, monkeypatch, caplog):
    url = f"postgresql://catena:hunter2@127.0.0.1:{free_port()}/inbox"
    client = make_client(url)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["problem"] == "unreachable"
    assert "hunter2" not in health.text and "127.0.0.1" not in health.text
    assert any("cannot be reached" in message for message in errors(caplog))
    assert not any("hunter2" in r.getMessage() for r in caplog.records)


def test_the_receiver_is_healthy_again_once_its_database_is_back(make_client, postgres_url, postgres_admin_url):
    name = make_url(postgres_url).database
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # the database is gone (a lost volume) when the receiver starts
            conn.execute(text(f'DROP DATABASE "{name}"'))
        client = make_client(postgres_url)
        assert client.get("/healthz").json()["problem"] == "unreachable"
        assert one_delivery(client) == 503
        with admin.connect() as conn:  # restored (empty): the next health probe migrates it
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        assert client.get("/healthz").status_code == 200
        assert one_delivery(client) == 202
    finally:
        admin.dispose()


def test_the_plugin_app_checks_its_inbox_in_the_api_server_lifespan(monkeypatch, sqlite_url, caplog):
    monkeypatch.setenv("AIRFLOW__CATENA__INBOX_URL", sqlite_url)
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "KubernetesExecutor")
    with TestClient(create_plugin_app()) as client:
        health = client.get("/webhooks/health")
        assert health.status_code == 503 and "KubernetesExecutor" in health.json()["reason"]
        content, headers = delivery(fe.body(fe.happy()[0]))
        assert client.post("/webhooks", content=content, headers=headers).status_code == 503
    assert any("KubernetesExecutor" in message for message in errors(caplog))


def test_a_receiver_whose_start_up_check_has_not_run_takes_deliveries(sqlite_url, monkeypatch):
    """Nothing found wrong yet (the check runs in the app's lifespan): the receiver is healthy and commits."""
    monkeypatch.delenv("CATENA_WEBHOOK_SECRET", raising=False)
    receiver = WebhookReceiver(ReceiverSettings(inbox_url=sqlite_url, secrets=(SECRET,)))
    try:
        assert receiver.problem is None and asyncio.run(receiver.health()) is None
        client = TestClient(create_webhook_app(receiver))  # not entered: no lifespan, so no start-up check
        assert one_delivery(client) == 202
    finally:
        receiver.close()

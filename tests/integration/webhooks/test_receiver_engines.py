"""The receiver over both inbox engines, and its answer when the database is gone."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from catena_airflow.inbox import InboxStore, Stage
from catena_airflow.webhooks.app import create_webhook_app
from tests.fixtures.net import free_port
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.signing import SECRET, delivery

pytestmark = pytest.mark.integration
URL = "/catena/webhooks"


@pytest.fixture
def open_client(monkeypatch):
    monkeypatch.delenv("CATENA_WEBHOOK_SECRET", raising=False)
    clients = []

    def open_(inbox_url: str) -> TestClient:
        client = TestClient(create_webhook_app(inbox_url=inbox_url, secrets=(SECRET,)))
        client.__enter__()
        clients.append(client)
        return client

    yield open_
    for client in clients:
        client.__exit__(None, None, None)


def post(client, env):
    content, headers = delivery(fe.body(env))
    return client.post(URL, content=content, headers=headers)


def test_onboarding_over_the_receiver(inbox_url, open_client):
    client = open_client(inbox_url)
    envs = fe.happy() + fe.operational_events(20)
    with ThreadPoolExecutor(8) as pool:  # concurrent, out of order, every event twice
        statuses = list(pool.map(lambda env: post(client, env).status_code, list(reversed(envs)) * 2))
    assert set(statuses) == {202}
    store = InboxStore(inbox_url)
    try:
        ob = store.get_onboarding(fe.INVITATION_ID)
        assert ob.stage is Stage.CONNECTED and ob.schedules[fe.SCHEDULE_ID].failed_executions == 2
        assert len(store.events_after(0, limit=100)) == len(envs)
        assert store.webhook_stats().duplicates_dropped == len(envs)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_closed_port_is_503(open_client, caplog):
    client = open_client(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/nothing")
    with caplog.at_level(logging.ERROR):
        response = post(client, fe.happy()[0])
    assert (response.status_code, response.json()) == (503, {"detail": "temporarily unavailable"})
    assert "OperationalError" in caplog.text and SECRET not in caplog.text


@pytest.mark.postgres
def test_dropped_database_is_503_and_nothing_is_acknowledged(postgres_url, open_client):
    client = open_client(postgres_url)
    assert post(client, fe.happy()[0]).status_code == 202
    url = make_url(postgres_url)
    admin = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')
        assert post(client, fe.happy()[1]).status_code == 503
        assert post(client, fe.happy()[2]).status_code == 503
        with admin.cursor() as cur:  # the database comes back empty: the receiver migrates it again
            cur.execute(f'CREATE DATABASE "{url.database}"')
        assert post(client, fe.happy()[1]).status_code == 202  # Catena's retry lands
    finally:
        admin.close()

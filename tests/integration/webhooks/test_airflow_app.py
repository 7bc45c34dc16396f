"""The plugin's receiver inside Airflow's own FastAPI app (airflow.api_fastapi.app.create_app)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from catena_airflow.inbox import InboxStore, Stage
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.signing import SECRET, delivery

pytestmark = pytest.mark.integration


def test_receiver_mounted_at_catena_webhooks(airflow_db, sqlite_url, monkeypatch):
    # Read at the first delivery (the plugin app itself is built when Airflow loads plugins).
    monkeypatch.setenv("CATENA_INBOX_URL", sqlite_url)
    monkeypatch.setenv("CATENA_WEBHOOK_SECRET", SECRET)
    from airflow.api_fastapi.app import create_app

    with TestClient(create_app()) as client:
        for env in fe.reuse():
            content, headers = delivery(fe.body(env))
            assert client.post("/catena/webhooks", content=content, headers=headers).status_code == 202
        content, headers = delivery(fe.body(fe.happy()[0]), secret="forged")
        assert client.post("/catena/webhooks", content=content, headers=headers).status_code == 401
        assert client.get("/api/v2/dags").status_code == 401  # Airflow's API keeps its login

    store = InboxStore(sqlite_url)
    try:
        assert store.get_onboarding(fe.INVITATION_ID).stage is Stage.CONNECTED
    finally:
        store.dispose()

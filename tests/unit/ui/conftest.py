"""The real Airflow api-server app (``create_app``) with the plugin mounted, and a seeded inbox."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from catena_airflow.inbox import InboxStore
from tests.unit.ui.seeding import SeededInbox, seed_dashboard_inbox


@pytest.fixture(scope="session")
def airflow_app(airflow_db):
    """Airflow's own FastAPI app: auth manager, JWT middleware, plugins mounted as the api-server does."""
    from airflow.api_fastapi.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def airflow_client(airflow_app):
    from fastapi.testclient import TestClient

    with TestClient(airflow_app) as client:
        yield client


@pytest.fixture(scope="session")
def admin_token(airflow_client) -> str:
    """A real Airflow JWT, from the simple auth manager's login endpoint (POST /auth/token)."""
    passwords = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    password = json.loads(passwords.read_text())["admin"]
    response = airflow_client.post("/auth/token", json={"username": "admin", "password": password})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


@pytest.fixture
def auth_headers(admin_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture
def inbox_store(sqlite_url, monkeypatch) -> Iterator[InboxStore]:
    """A fresh inbox of this test's own, which the dashboard reads through ``CATENA_INBOX_URL``."""
    monkeypatch.setenv("CATENA_INBOX_URL", sqlite_url)
    store = InboxStore(sqlite_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def seeded(inbox_store) -> SeededInbox:
    return seed_dashboard_inbox(inbox_store, now=datetime.now(UTC))

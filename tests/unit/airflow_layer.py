"""Shared helpers of the Airflow-layer unit tests: a Catena API faked at the HTTP boundary, inbox events.

Catena is outside the system, so its HTTP API is replaced with ``requests_mock`` (the provider
convention); the inbox (operations state included) is a real SQLite file.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

CATENA_URL = "http://catena.test"
TOKEN_URL = f"{CATENA_URL}/token"
CONNECTION_ENV = {
    "AIRFLOW_CONN_CATENA_DEFAULT": json.dumps(
        {
            "conn_type": "catena",
            "host": CATENA_URL,
            "login": "partner-id",
            "password": "partner-secret",
            "extra": {"auth_url": TOKEN_URL},
        }
    )
}


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def page(items: list[dict[str, Any]], next_page: str | None = None) -> dict[str, Any]:
    return {"items": items, "total": len(items), "next_page": next_page}


def query_time(qs: dict[str, list[str]], name: str) -> datetime:
    """A datetime query parameter (requests_mock lower-cases query values)."""
    return datetime.fromisoformat(qs[name][0].upper().replace("Z", "+00:00"))


def paged(items: list[dict[str, Any]], size: int, *, time_filter: bool = False) -> Any:
    """A requests_mock callback serving ``items`` in pages of ``size`` with opaque cursors; with
    ``time_filter``, only the items whose ``occurred_at`` is in ``[from_datetime, to_datetime)``, as Catena."""

    def respond(request: Any, context: Any) -> dict[str, Any]:
        chosen = items
        if time_filter and "from_datetime" in request.qs:
            start, end = query_time(request.qs, "from_datetime"), query_time(request.qs, "to_datetime")
            chosen = [i for i in items if start <= datetime.fromisoformat(i["occurred_at"]) < end]
        first = int(request.qs.get("cursor", ["0"])[0])
        nxt = str(first + size) if first + size < len(chosen) else None
        return {"items": chosen[first : first + size], "total": len(chosen), "next_page": nxt}

    return respond


def mock_token(requests_mock: Any) -> None:
    requests_mock.post(TOKEN_URL, json={"access_token": "t0ken", "expires_in": 3600, "token_type": "Bearer"})


def invitation_json(invitation_id: str | None = None, **fields: Any) -> dict[str, Any]:
    invitation_id = invitation_id or str(uuid.uuid4())
    created = now()
    return {
        "id": invitation_id,
        "created_at": iso(created),
        "magic_link": f"https://connect.catena.test/?invite={invitation_id}",
        "expires_at": iso(created + timedelta(hours=24)),
        "expires_in_hours": 24,
        "status": "active",
        "fleet_ref": "acme-1",
        "fleet_id": None,
        "pre_registration_access_token": None,
        "pre_registration_refresh_token": None,
        **fields,
    }


def webhook(store: Any, event_name: str, **record: Any) -> int:
    """Record one delivery of ``event_name`` (one record) in the inbox, as the receiver would."""
    envelope = {
        "version": "1.0",
        "event_name": event_name,
        "data": [record],
        "webhook_id": "wh-1",
        "timestamp": iso(now()),
        "id": str(uuid.uuid4()),
        "delivery_attempt": 1,
    }
    outcome = store.record_event(envelope, json.dumps(envelope))
    assert outcome.stored
    return outcome.seq


def onboard(store: Any, invitation: dict[str, Any], fleet_id: str, connection_id: str) -> None:
    """The webhooks of a happy onboarding, up to ``fleet_connection.created``."""
    base = {k: invitation[k] for k in ("id", "created_at", "magic_link", "expires_at", "expires_in_hours")}
    webhook(
        store, "invitation.accepted", **base, status="accepted", fleet_ref=invitation["fleet_ref"], fleet_id=fleet_id
    )
    webhook(
        store,
        "share_agreement.created",
        id=str(uuid.uuid4()),
        fleet_id=fleet_id,
        partner_id=str(uuid.uuid4()),
        status="active",
        scopes={"vehicle": "read", "vehicle_location": "read"},
        fleet_ref=invitation["fleet_ref"],
    )
    webhook(
        store,
        "connection.created",
        id=connection_id,
        source_name="samsara",
        fleet_id=fleet_id,
        tsp_id="t",
        status="active",
    )
    webhook(store, "fleet_connection.created", id=str(uuid.uuid4()), fleet_id=fleet_id, connection_id=connection_id)


# --- fixtures (imported by the conftest of each Airflow-layer test package) ------------------------


@pytest.fixture
def catena_api(requests_mock, monkeypatch):
    """The ``catena_default`` connection pointing at a faked Catena (token endpoint already mocked)."""
    for name, value in CONNECTION_ENV.items():
        monkeypatch.setenv(name, value)
    mock_token(requests_mock)
    return requests_mock


@pytest.fixture
def inbox(tmp_path, monkeypatch):
    """A real SQLite inbox, also what ``CATENA_INBOX_URL`` points at for the code under test."""
    from catena_airflow.hooks.inbox import inbox_store

    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    monkeypatch.setenv("CATENA_INBOX_URL", url)
    return inbox_store(url)


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """A real DuckDB warehouse file for dlt, also what ``CATENA_DLT_DESTINATION`` points at."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CATENA_DLT_DESTINATION", f"duckdb:///{path}")
    monkeypatch.setenv("CATENA_DLT_PIPELINES_DIR", str(tmp_path / "dlt"))
    return path


def warehouse_ids(path: Any, table: str, fleet_id: str) -> set[str]:
    """The ids of ``fleet_id``'s rows in a warehouse table (none when dlt never created the table)."""
    import duckdb

    if not path.exists():
        return set()
    with duckdb.connect(str(path), read_only=True) as conn:
        known = {row[0] for row in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if table not in known:
            return set()
        return {
            row[0] for row in conn.execute(f"SELECT id FROM catena.{table} WHERE fleet_id = ?", [fleet_id]).fetchall()
        }

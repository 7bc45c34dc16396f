"""The dashboard's queries on the production inbox engine: PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catena_airflow.inbox import InboxStore
from tests.unit.ui.seeding import SECRETS, seed_dashboard_inbox

pytestmark = [pytest.mark.postgres, pytest.mark.integration]


@pytest.fixture
def postgres_inbox(postgres_url, monkeypatch):
    monkeypatch.setenv("CATENA_INBOX_URL", postgres_url)
    store = InboxStore(postgres_url)
    store.migrate()
    yield store
    store.dispose()


def test_dashboard_on_a_postgresql_inbox(airflow_client, auth_headers, postgres_inbox):
    seeded = seed_dashboard_inbox(postgres_inbox, now=datetime.now(UTC))

    def get(path: str, **params) -> dict:
        response = airflow_client.get(f"/catena/api/{path}", params=params, headers=auth_headers)
        assert response.status_code == 200, response.text
        for secret in SECRETS:
            assert secret not in response.text
        return response.json()

    funnel = get("funnel")
    assert [s["count"] for s in funnel["stages"]] == [6, 4, 2, 2, 2, 2]
    assert get("funnel", window="24h")["total"] == 2
    stuck = get("fleets", stuck="true")
    assert sorted(r["fleet_ref"] for r in stuck["items"]) == ["delta-transport", "echo-carriers"]
    assert get("fleets", search="ACME")["items"][0]["invitation_id"] == seeded.connected.invitation_id
    assert get("fleets", stage="declined")["items"][0]["decline_reason"] == "Already using another provider"
    alerts = get("alerts")
    assert {a["kind"] for a in alerts["items"]} == {"stale_connection", "deactivated_schedule"}
    health = get("webhooks/health")
    assert (health["signature_failures"], health["duplicates_dropped"]) == (2, 1)

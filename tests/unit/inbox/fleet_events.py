"""Envelopes of one fleet's onboarding, as Catena would send them (catena-api.md §3.4, §3.9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

INVITATION_ID = "019d0000-0000-7000-8000-00000000a001"
FLEET_ID = "019d0000-0000-7000-8000-00000000f001"
CONNECTION_ID = "019d0000-0000-7000-8000-00000000c001"
SCHEDULE_ID = "019d0000-0000-7000-8000-00000000e001"
WEBHOOK_ID = "019d0000-0000-7000-8000-000000000001"
FLEET_REF = "FLEET-42"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def envelope(n: int, event_name: str, record: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """Envelope number ``n`` (its event id and timestamp follow from ``n``)."""
    return {
        "version": "1.0",
        "event_name": event_name,
        "webhook_id": WEBHOOK_ID,
        "timestamp": (T0 + timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
        "id": event_id or f"019d0000-0000-7000-8000-{n:012d}",
        "delivery_attempt": 1,
        "data": [record],
    }


def body(env: dict[str, Any]) -> bytes:
    return json.dumps(env, separators=(",", ":")).encode()


def _invitation(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": INVITATION_ID,
        "created_at": T0.isoformat(),
        "magic_link": f"https://connect.catenatelematics.com/{INVITATION_ID}",
        "expires_at": (T0 + timedelta(hours=24)).isoformat(),
        "expires_in_hours": 24,
        "status": status,
        "fleet_ref": FLEET_REF,
        **extra,
    }


def _fleet_events(first_n: int, *, with_connection_created: bool) -> list[dict[str, Any]]:
    n = first_n
    out = [
        envelope(n, "invitation.accepted", _invitation("accepted", fleet_id=FLEET_ID)),
        envelope(
            n + 1,
            "share_agreement.created",
            {
                "id": "sa-1",
                "fleet_id": FLEET_ID,
                "partner_id": "p-1",
                "invitation_id": INVITATION_ID,
                "status": "active",
                "scopes": {"vehicles": "read"},
                "fleet_ref": FLEET_REF,
            },
        ),
    ]
    if with_connection_created:
        out.append(
            envelope(
                n + 2,
                "connection.created",
                {
                    "id": CONNECTION_ID,
                    "source_name": "samsara",
                    "fleet_id": FLEET_ID,
                    "tsp_id": "t",
                    "status": "active",
                },
            )
        )
    out.append(
        envelope(
            n + 3,
            "fleet_connection.created",
            {"id": "fc-1", "fleet_id": FLEET_ID, "connection_id": CONNECTION_ID},
        )
    )
    return out


def operational_events(first_n: int) -> list[dict[str, Any]]:
    execution = {
        "schedule_id": SCHEDULE_ID,
        "connection_id": CONNECTION_ID,
        "fleet_id": FLEET_ID,
        "status": "failed",
        "source_name": "samsara",
        "resource": "vehicles",
        "created_at": T0.isoformat(),
    }
    return [
        envelope(first_n, "execution.failed", {"id": "x-1", **execution, "updated_at": "2026-03-01T13:00:00Z"}),
        envelope(first_n + 1, "execution.failed", {"id": "x-2", **execution, "updated_at": "2026-03-01T13:05:00Z"}),
        envelope(
            first_n + 2,
            "schedule.deactivated",
            {
                "id": SCHEDULE_ID,
                "connection_id": CONNECTION_ID,
                "resource": "vehicles",
                "execution_interval_seconds": 300,
                "status": "inactive",
                "consecutive_error_threshold": 2,
                "max_concurrent_executions": 1,
            },
        ),
        envelope(
            first_n + 3,
            "connection.staled",
            {"id": CONNECTION_ID, "source_name": "samsara", "fleet_id": FLEET_ID, "tsp_id": "t", "status": "stale"},
        ),
    ]


def happy() -> list[dict[str, Any]]:
    return [
        envelope(1, "invitation.created", _invitation("active")),
        envelope(2, "invitation.sent", _invitation("active")),
        envelope(3, "invitation.viewed", _invitation("active")),
        *_fleet_events(4, with_connection_created=True),
    ]


def reuse() -> list[dict[str, Any]]:
    """The fleet already had a connection to its TSP: no ``connection.created``."""
    return [envelope(1, "invitation.created", _invitation("active")), *_fleet_events(4, with_connection_created=False)]


def declined() -> list[dict[str, Any]]:
    return [
        envelope(1, "invitation.created", _invitation("active")),
        envelope(2, "invitation.viewed", _invitation("active")),
        envelope(
            3,
            "invitation.declined",
            _invitation("declined", decline_reason="Not ready yet \u2014 try Q3", declined_at="2026-03-01T12:03:00Z"),
        ),
    ]


def expired() -> list[dict[str, Any]]:
    return [
        envelope(1, "invitation.created", _invitation("active")),
        envelope(2, "invitation.sent", _invitation("active")),
        envelope(3, "invitation.expired", _invitation("expired")),
    ]


def deleted() -> list[dict[str, Any]]:
    return [
        envelope(1, "invitation.created", _invitation("active")),
        envelope(2, "invitation.deleted", _invitation("deleted")),
    ]


SCENARIOS = {
    "happy": (happy, "connected"),
    "happy+operations": (lambda: happy() + operational_events(20), "connected"),
    "reuse": (reuse, "connected"),
    "declined": (declined, "declined"),
    "expired": (expired, "expired"),
    "deleted": (deleted, "deleted"),
}

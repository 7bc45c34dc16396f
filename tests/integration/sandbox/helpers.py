"""Small partner-side helpers shared by the sandbox tests (plain HTTP, no client library)."""

from __future__ import annotations

from typing import Any

from tests.integration.sandbox.receiver import Receiver

ONBOARDING_FAMILIES = ("invitation.*", "share_agreement.*", "connection.*", "fleet_connection.*")
OPERATION_FAMILIES = ("execution.*", "schedule.*")


def subscribe(sandbox: Any, receiver: Receiver, *event_names: str, **extra: Any) -> list[dict[str, Any]]:
    """Subscribe the receiver to each event name (wildcards expand); the receiver learns each secret."""
    created: list[dict[str, Any]] = []
    for event_name in event_names:
        response = sandbox.api(
            "POST", "/v2/notifications/webhooks", json={"url": receiver.url, "event_name": event_name, **extra}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items = body if isinstance(body, list) else [body]
        for subscription in items:
            receiver.secrets[subscription["id"]] = subscription["secret"]
        created.extend(items)
    return created


def invite(sandbox: Any, fleet_ref: str, **fields: Any) -> dict[str, Any]:
    response = sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_ref": fleet_ref, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def event_names(receiver: Receiver) -> list[str]:
    """Event names in the order Catena produced them (envelope timestamp), not the order they arrived in."""
    return [e["event_name"] for e in sorted(receiver.events(), key=lambda e: e["timestamp"])]


def records(receiver: Receiver, event_name: str) -> list[dict[str, Any]]:
    return [e["data"][0] for e in receiver.events(event_name)]

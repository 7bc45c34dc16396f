"""Small partner-side helpers shared by the sandbox tests (plain HTTP, no client library)."""

from __future__ import annotations

from typing import Any

from tests.integration.sandbox.receiver import Receiver

ONBOARDING_FAMILIES = ("invitation.*", "share_agreement.*", "connection.*", "fleet_connection.*")
OPERATION_FAMILIES = ("execution.*", "schedule.*")


def subscribe(sandbox: Any, receiver: Receiver, *event_names: str, **extra: Any) -> list[dict[str, Any]]:
    """Subscribe the receiver to each event name (wildcards expand); the receiver learns each secret.

    ``extra`` adds body fields (``filters``, ``secret``) or another ``url`` of the same receiver.
    """
    created: list[dict[str, Any]] = []
    request = {"url": receiver.url, **extra}
    for event_name in event_names:
        response = sandbox.api("POST", "/v2/notifications/webhooks", json={**request, "event_name": event_name})
        assert response.status_code == 200, response.text
        body = response.json()
        items = body if isinstance(body, list) else [body]
        for subscription in items:
            receiver.secrets[subscription["id"]] = subscription["secret"]
        created.extend(items)
    return created


def webhooks(sandbox: Any, **params: Any) -> list[dict[str, Any]]:
    """Every subscription (``WebhookRead``) on one page."""
    response = sandbox.api("GET", "/v2/notifications/webhooks", params={"size": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def learn_readable_secrets(sandbox: Any, receiver: Receiver) -> list[dict[str, Any]]:
    """Give the receiver every secret a read shows in clear (callback_url ones, in one variation); those reads."""
    readable = [w for w in webhooks(sandbox) if w["secret"] != "*****"]
    receiver.secrets.update({w["id"]: w["secret"] for w in readable})
    return readable


def invite(sandbox: Any, fleet_ref: str, **fields: Any) -> dict[str, Any]:
    response = sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_ref": fleet_ref, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def fleet_id_of(sandbox: Any, invitation_id: str) -> str | None:
    """The invitation's fleet id as REST shows it (the documented fallback when other records show none)."""
    response = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{invitation_id}", timeout=10)
    response.raise_for_status()
    return response.json()["fleet_id"]


def wait_connected(sandbox: Any, receiver: Receiver, invitation_id: str, timeout: float = 20.0) -> str:
    """Wait until the receiver got ``fleet_connection.created`` for this invitation's fleet; its fleet id.

    Correlates as a partner can, whatever the variations hide: the invitation's fleet id from REST.
    """
    fleet_ids: list[str] = []

    def connected(r: Receiver) -> bool:
        if not fleet_ids and (fleet_id := fleet_id_of(sandbox, invitation_id)) is not None:
            fleet_ids.append(fleet_id)
        return bool(fleet_ids) and any(x["fleet_id"] == fleet_ids[0] for x in records(r, "fleet_connection.created"))

    receiver.wait_for(connected, timeout)
    return fleet_ids[0]


def event_names(receiver: Receiver) -> list[str]:
    """Event names in the order Catena produced them (envelope timestamp), not the order they arrived in."""
    return [e["event_name"] for e in sorted(receiver.events(), key=lambda e: e["timestamp"])]


def records(receiver: Receiver, event_name: str) -> list[dict[str, Any]]:
    return [e["data"][0] for e in receiver.events(event_name)]

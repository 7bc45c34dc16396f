"""Catena's subscription reads, faked at the client boundary (Catena is outside the system).

The one call the receiver's subscription lookup makes: ``get_webhook_subscription``.
"""

from __future__ import annotations

import threading

from catena_airflow.client.errors import CatenaNotFoundError, CatenaServerError
from catena_airflow.client.models import WebhookSubscription
from tests.unit.inbox import fleet_events as fe

CALLBACK_SECRET = "per-invitation-secret-1"


class FakeCatena:
    """Catena's subscriptions as ``GET /v2/notifications/webhooks/{id}`` answers them."""

    def __init__(self, subscriptions: dict[str, str] | None = None, *, masked: bool = False, fail: bool = False):
        self.subscriptions = subscriptions or {}
        self.masked, self.fail = masked, fail
        self.calls: list[str] = []
        self.release = threading.Event()
        self.release.set()

    def get_webhook_subscription(self, webhook_id: str) -> WebhookSubscription:
        self.calls.append(webhook_id)
        self.release.wait(10)
        if self.fail:
            raise CatenaServerError(status_code=500, message="Internal Server Error")
        if webhook_id not in self.subscriptions:
            raise CatenaNotFoundError(status_code=404, code=404, message="Not Found")
        return WebhookSubscription.model_validate(
            {
                "id": webhook_id,
                "url": "https://partner.example/catena/*****",
                "event_name": "invitation.created",
                "filters": {"fleet_refs": [fe.FLEET_REF], "fleet_ids": None},
                "secret": "*****" if self.masked else self.subscriptions[webhook_id],
                "status": "active",
            }
        )

"""Webhook subscriptions: create (with wildcard expansion), update, pause/activate, replay, and publishing."""

from __future__ import annotations

import logging
import secrets
import string
from typing import Any

from catena_sandbox.clock import iso, new_id, utcnow
from catena_sandbox.delivery import DeliveryEngine
from catena_sandbox.errors import CatenaError
from catena_sandbox.events import (
    LIFECYCLE_FAMILIES,
    About,
    expand_event_name,
    matches_filters,
    normalise_filters,
)
from catena_sandbox.settings import Settings
from catena_sandbox.state import Invitation, Message, Store, Subscription
from catena_sandbox.variations import Variations

SECRET_ALPHABET = string.ascii_letters + string.digits
log = logging.getLogger(__name__)


def generate_secret() -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(16))


class Subscriptions:
    """The notifications service: who gets which event, and handing messages to the delivery engine."""

    def __init__(self, *, settings: Settings, store: Store, engine: DeliveryEngine, variations: Variations) -> None:
        self._settings = settings
        self._store = store
        self._engine = engine
        self._variations = variations

    # -- publishing ------------------------------------------------------------------------------
    def publish(self, event_name: str, record: dict[str, Any], about: About | None = None) -> str:
        """Send one event (one record) to every matching subscription; returns the (first) event id.

        ``about`` is the fleet the event concerns as the sandbox knows it (filters match on it); without
        it, the record's own fleet fields. Whether each subscription gets the same envelope id or its own
        is a variation of that fleet; an id never changes across retries, replays and duplicates.
        """
        about = about if about is not None else About.of(record)
        shared = self._variations.choose("event_id_across_subscriptions", about.fleet_ref) == "same"
        event_id = new_id()
        first_id: str | None = None
        timestamp = iso(utcnow()) or ""
        store = self._store
        matched = 0
        with store.lock:
            for subscription in list(store.subscriptions.values()):
                if subscription.event_name != event_name or subscription.status == "deleted":
                    continue
                if not matches_filters(subscription.filters, about):
                    continue
                message_id = event_id if shared or first_id is None else new_id()
                first_id = first_id or message_id
                message = Message(
                    event_id=message_id,
                    webhook_id=subscription.id,
                    event_name=event_name,
                    data=[record],
                    timestamp=timestamp,
                )
                matched += 1
                if subscription.status == "active":
                    self._engine.submit(message)
                else:  # paused or stale: queued for a replay after activation
                    store.subscription_stats(subscription.id).dlq.append(message)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s id=%s fleet_ref=%s record=%s -> %d subscription(s)%s",
                event_name,
                first_id or event_id,
                about.fleet_ref,
                record.get("id"),
                matched,
                "" if shared else " (an id each)",
            )
        return first_id or event_id

    def _publish_webhook_event(self, action: str, subscription: Subscription) -> None:
        record = {
            "id": subscription.id,
            "url": subscription.url,
            "event_name": subscription.event_name,
            "filters": subscription.filters,
            "status": subscription.status,
        }
        self.publish(f"webhook.{action}", record)

    # -- CRUD ------------------------------------------------------------------------------------
    def create(
        self,
        *,
        url: str,
        event_name: str,
        filters: dict[str, Any] | None,
        secret: str | None,
    ) -> tuple[list[Subscription], str]:
        """New subscriptions (one per concrete event) and their secret in clear; 409 on any duplicate."""
        concrete = expand_event_name(event_name)
        if concrete is None:
            raise CatenaError(
                422,
                [
                    {
                        "path": "body.event_name",
                        "input": event_name,
                        "message": "Unknown event name",
                        "error_type": "enum",
                    }
                ],
            )
        normalised = normalise_filters(filters)
        plain_secret = secret if secret else generate_secret()
        with self._store.lock:
            existing = [s.id for name in concrete if (s := self._find(url, name, normalised)) is not None]
            if existing:
                raise CatenaError(
                    409,
                    "A subscription for this event, url and filters already exists: " + ", ".join(existing),
                )
            created = self._add(url, concrete, normalised, plain_secret)
        for subscription in created:
            self._publish_webhook_event("created", subscription)
        return created, plain_secret

    def _add(
        self,
        url: str,
        event_names: list[str],
        filters: dict[str, list[str] | None] | None,
        secret: str,
        invitation: Invitation | None = None,
    ) -> list[Subscription]:
        now = utcnow()
        created = []
        for name in event_names:
            subscription = Subscription(
                id=new_id(),
                url=url,
                event_name=name,
                filters=filters,
                secret=secret,
                status="active",
                created_at=now,
                updated_at=now,
                invitation_id=invitation.id if invitation is not None else None,
                callback_fleet_ref=invitation.fleet_ref if invitation is not None else None,
            )
            self._store.subscriptions[subscription.id] = subscription
            created.append(subscription)
        return created

    def _find(self, url: str, event_name: str, filters: dict[str, Any] | None) -> Subscription | None:
        for subscription in self._store.subscriptions.values():
            if (
                subscription.status != "deleted"
                and subscription.url == url
                and subscription.event_name == event_name
                and subscription.filters == filters
            ):
                return subscription
        return None

    def get(self, webhook_id: str) -> Subscription:
        subscription = self._store.subscriptions.get(webhook_id)
        if subscription is None or subscription.status == "deleted":
            raise CatenaError(404, f"Webhook subscription {webhook_id} not found")
        return subscription

    def update(self, webhook_id: str, changes: dict[str, Any]) -> Subscription:
        store = self._store
        with store.lock:
            subscription = self.get(webhook_id)
            url = changes.get("url") or subscription.url
            filters = normalise_filters(changes["filters"]) if "filters" in changes else subscription.filters
            other = self._find(url, subscription.event_name, filters)
            if other is not None and other.id != subscription.id:
                raise CatenaError(409, f"A subscription for this event, url and filters already exists: {other.id}")
            subscription.url = url
            subscription.filters = filters
            if changes.get("secret"):
                subscription.secret = changes["secret"]
            if changes.get("status"):
                subscription.status = changes["status"]
            subscription.updated_at = utcnow()
        self._publish_webhook_event("updated", subscription)
        return subscription

    def delete(self, webhook_id: str) -> None:
        with self._store.lock:
            subscription = self.get(webhook_id)
            subscription.status = "deleted"
            subscription.deleted_at = subscription.updated_at = utcnow()
        self._publish_webhook_event("deleted", subscription)

    def set_status(self, webhook_id: str, status: str) -> Subscription:
        with self._store.lock:
            subscription = self.get(webhook_id)
            subscription.status = status
            subscription.updated_at = utcnow()
            self._store.subscription_stats(webhook_id).dead_streak = 0
        self._publish_webhook_event("activated" if status == "active" else "paused", subscription)
        return subscription

    def trip_breaker(self, webhook_id: str) -> None:
        """Catena's circuit breaker, low-volume rule: after N dead-lettered messages in a row the
        subscription goes ``stale`` (no evaluation in the grace period after create/update)."""
        with self._store.lock:
            subscription = self._store.subscriptions.get(webhook_id)
            if subscription is None or subscription.status != "active":
                return
            age = (utcnow() - subscription.updated_at).total_seconds()
            if age < self._settings.scaled(self._settings.breaker_grace_seconds):
                return
            subscription.status = "stale"
            subscription.updated_at = utcnow()
            self._store.subscription_stats(webhook_id).dead_streak = 0
        self._publish_webhook_event("staled", subscription)

    def replay(self, webhook_id: str) -> int:
        """Re-send the subscription's dead-letter queue; the event ids stay, attempts keep counting."""
        store = self._store
        with store.lock:
            subscription = self.get(webhook_id)
            if subscription.status != "active":
                raise CatenaError(409, f"Webhook subscription is {subscription.status}; activate it first")
            stats = store.subscription_stats(webhook_id)
            messages, stats.dlq = stats.dlq, []
        for message in messages:
            self._engine.submit(message)
        return len(messages)

    # -- invitation callback_url -----------------------------------------------------------------
    def subscribe_callback(self, invitation: Invitation) -> list[Subscription]:
        """Real subscriptions for an invitation's ``callback_url``: one per onboarding event, as webhook create
        makes for a wildcard, filtered to the invitation's fleet_ref, with a generated secret of their own.

        An identical subscription (event, url, filters) that already exists, e.g. one made for an earlier
        invitation of the same fleet_ref, is kept instead of duplicated. Returns the new ones.
        """
        url = invitation.callback_url
        if not url:
            return []
        filters = normalise_filters({"fleet_refs": [invitation.fleet_ref], "fleet_ids": None})
        names = [name for family in LIFECYCLE_FAMILIES for name in expand_event_name(f"{family}.*") or ()]
        with self._store.lock:
            missing = [name for name in names if self._find(url, name, filters) is None]
            created = self._add(url, missing, filters, generate_secret(), invitation)
        for subscription in created:
            self._publish_webhook_event("created", subscription)
        return created

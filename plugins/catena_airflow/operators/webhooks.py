"""Org-wide webhook subscriptions to the receiver: ensure they exist, and keep them healthy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context

from catena_airflow.client._base import status_value
from catena_airflow.client.errors import CatenaConflictError
from catena_airflow.client.events import (
    CONNECTION_CREATED,
    EXECUTION_WILDCARD,
    FLEET_CONNECTION_CREATED,
    INVITATION_ACCEPTED,
    INVITATION_DECLINED,
    INVITATION_DELETED,
    INVITATION_EXPIRED,
    INVITATION_VIEWED,
    ONBOARDING_WILDCARDS,
    OPERATIONAL_EVENTS,
    SCHEDULE_WILDCARD,
    SHARE_AGREEMENT_CREATED,
    event_family,
)
from catena_airflow.hooks.adapters import DEFAULT_CATENA_CONN_ID
from catena_airflow.hooks.catena import CatenaHook
from catena_airflow.hooks.inbox import CatenaInboxHook
from catena_airflow.subscriptions import (
    is_org_wide,
    known_subscription_ids,
    new_secret,
    rotate_secret,
    url_matches,
)

if TYPE_CHECKING:
    from catena_airflow.client import CatenaClient
    from catena_airflow.client.models import WebhookSubscription
    from catena_airflow.inbox import InboxStore

#: The event families the onboarding and operations workflows need.
DEFAULT_EVENT_FAMILIES = (*ONBOARDING_WILDCARDS, EXECUTION_WILDCARD, SCHEDULE_WILDCARD)
#: Concrete events the workflows depend on: re-subscribed one by one if missing from a present family.
REQUIRED_EVENTS = (
    INVITATION_VIEWED,
    INVITATION_ACCEPTED,
    INVITATION_DECLINED,
    INVITATION_EXPIRED,
    INVITATION_DELETED,
    SHARE_AGREEMENT_CREATED,
    CONNECTION_CREATED,
    FLEET_CONNECTION_CREATED,
    *OPERATIONAL_EVENTS,
)
DEFAULT_RECEIVER_URL = "http://localhost:8080/catena/webhooks"


def _truthy(value: bool | str) -> bool:
    """A flag given directly or rendered from a template (``"True"``/``"False"``)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")


class _SubscriptionsOperator(BaseOperator):
    """Shared lookups: which of Catena's subscriptions deliver to our receiver.

    :param url: The receiver's public URL (``.../catena/webhooks``) (templated).
    :param catena_conn_id: Airflow connection of Catena.
    :param inbox_conn_id: Airflow connection of the inbox (the signing secrets); None (default):
        ``[catena] inbox_url``.
    """

    template_fields: Sequence[str] = ("url",)

    def __init__(
        self,
        *,
        url: str = DEFAULT_RECEIVER_URL,
        catena_conn_id: str = DEFAULT_CATENA_CONN_ID,
        inbox_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.catena_conn_id = catena_conn_id
        self.inbox_conn_id = inbox_conn_id

    @cached_property
    def hook(self) -> CatenaHook:
        """The hook of ``catena_conn_id``; ``self.hook.get_conn()`` is its ``CatenaClient``."""
        return CatenaHook(catena_conn_id=self.catena_conn_id)

    def ours(self, subscriptions: Iterable[WebhookSubscription], known_ids: set[str]) -> list[WebhookSubscription]:
        """Subscriptions we created (secret in the inbox) or whose URL reads back as ours."""
        return [s for s in subscriptions if str(s.id) in known_ids or url_matches(s.url, self.url)]


class CatenaEnsureWebhookSubscriptionsOperator(_SubscriptionsOperator):
    """Makes sure org-wide subscriptions for each event family point at the receiver; idempotent.

    Lists Catena's subscriptions first and creates only the missing families. Only unfiltered
    subscriptions count: the ones Catena creates for an invitation's ``callback_url`` (filtered by
    its ``fleet_refs``) deliver one fleet's events, so they are left alone (never rotated, never
    taken for a family). Each new subscription gets a generated signing secret, stored (encrypted) in
    the inbox for the receiver. A family that exists at our URL with a secret we do not hold has its
    secret rotated.

    :param url: The receiver's public URL (``.../catena/webhooks``) (templated).
    :param event_families: Catch-all event names to subscribe (``invitation.*`` ...) (templated).
    :param rotate_secrets: Also give every subscription of ours a new signing secret (deliberate
        rotation); the old secret stays accepted for the inbox's grace period (templated).
    :param catena_conn_id: Airflow connection of Catena.
    :param inbox_conn_id: Airflow connection of the inbox (the signing secrets); None (default):
        ``[catena] inbox_url``.
    """

    template_fields: Sequence[str] = ("url", "event_families", "rotate_secrets")

    def __init__(
        self,
        *,
        event_families: Sequence[str] = DEFAULT_EVENT_FAMILIES,
        rotate_secrets: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.event_families = event_families
        self.rotate_secrets = rotate_secrets

    def execute(self, context: Context) -> dict[str, Any]:
        client = self.hook.get_conn()
        store = CatenaInboxHook(self.inbox_conn_id).get_conn()
        existing = list(client.list_webhook_subscriptions())
        known = known_subscription_ids(store)
        org_wide = [s for s in existing if is_org_wide(s)]
        ours = self.ours(org_wide, known)
        self._note_callbacks(existing)
        created: list[str] = []
        present: list[str] = []
        subscribed = {s.event_name for s in ours}
        for wildcard in self.event_families:
            family = event_family(wildcard)
            mine = [s for s in ours if event_family(s.event_name) == family]
            unknown_secret = [s for s in mine if str(s.id) not in known]
            if unknown_secret:
                self._rotate(client, store, unknown_secret, reason="had a secret this deployment lacked")
            if _truthy(self.rotate_secrets):
                held = [s for s in mine if str(s.id) in known]
                self._rotate(client, store, held, reason="rotated on request")
            if mine:
                present.append(wildcard)
                continue
            subscribed |= self._subscribe(client, store, wildcard, known)
            created.append(wildcard)
        families = {event_family(f) for f in self.event_families}
        repaired = [e for e in REQUIRED_EVENTS if event_family(e) in families and e not in subscribed]
        for event_name in repaired:
            # Part of a family was deleted or re-pointed: subscribe the missing event on its own.
            self._subscribe(client, store, event_name, known)
        self.log.info(
            "Webhook subscriptions: %d family(ies) created, %d already present, %d missing event(s) re-subscribed",
            len(created),
            len(present),
            len(repaired),
        )
        return {"url": self.url, "created": created, "present": present, "repaired": repaired}

    def _subscribe(self, client: CatenaClient, store: InboxStore, event_name: str, known: set[str]) -> set[str]:
        """Subscribe ``event_name`` (a family or one event) with a fresh secret kept in the inbox."""
        secret = new_secret()
        try:
            subscriptions = client.create_webhook_subscription(url=self.url, event_name=event_name, secret=secret)
        except CatenaConflictError:
            # Exists, but Catena masked its URL beyond recognition: find it by event and rotate.
            clash = [
                s
                for s in client.list_webhook_subscriptions()
                if is_org_wide(s) and event_family(s.event_name) == event_family(event_name)
            ]
            lacked = [s for s in clash if str(s.id) not in known]
            self._rotate(client, store, lacked, reason="had a secret this deployment lacked")
            return {s.event_name for s in clash}
        for sub in subscriptions:
            store.save_subscription_secret(str(sub.id), secret, event_name=sub.event_name, url=self.url)
        self.log.info("Subscribed %s to %s (%d subscription(s))", self.url, event_name, len(subscriptions))
        return {sub.event_name for sub in subscriptions}

    def _rotate(
        self, client: CatenaClient, store: InboxStore, subscriptions: Iterable[WebhookSubscription], *, reason: str
    ) -> None:
        for sub in subscriptions:
            rotate_secret(client, store, sub, url=self.url)
            self.log.warning("Subscription %s (%s) %s: secret rotated", sub.id, sub.event_name, reason)

    def _note_callbacks(self, existing: Sequence[WebhookSubscription]) -> None:
        callbacks = [s for s in existing if not is_org_wide(s)]
        if callbacks:
            self.log.info(
                "%d filtered subscription(s) (Catena's, for invitations' callback_url) left alone; a fleet "
                "whose callback_url is this receiver has its events delivered twice, dropped by event id.",
                len(callbacks),
            )


class CatenaWebhookHealthCheckOperator(_SubscriptionsOperator):
    """Reactivates our ``stale`` or ``paused`` subscriptions and replays their dead-letter queues.

    Also replays the DLQ of active subscriptions that have dead-lettered messages (e.g. the inbox was
    down for longer than Catena's retries). The number of messages replayed is the subscription
    metrics' ``dlq_count`` read just before the replay.

    :param url: The receiver's public URL (``.../catena/webhooks``): subscriptions delivering there are
        ours (templated).
    :param catena_conn_id: Airflow connection of Catena.
    :param inbox_conn_id: Airflow connection of the inbox (the signing secrets); None (default):
        ``[catena] inbox_url``.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        client = self.hook.get_conn()
        store = CatenaInboxHook(self.inbox_conn_id).get_conn()
        ours = self.ours(client.list_webhook_subscriptions(), known_subscription_ids(store))
        reactivated: list[str] = []
        replayed: dict[str, int] = {}
        for sub in ours:
            status = status_value(sub.status)
            dlq = client.get_webhook_metrics(str(sub.id)).dlq_count or 0
            if status in ("stale", "paused"):
                client.activate_webhook_subscription(str(sub.id))
                reactivated.append(str(sub.id))
                self.log.warning("Subscription %s (%s) was %s: reactivated", sub.id, sub.event_name, status)
            elif status not in ("active", ""):
                self.log.warning("Subscription %s (%s) is %s: left alone", sub.id, sub.event_name, status)
                continue
            if dlq:
                client.replay_webhook_subscription(str(sub.id))
                replayed[str(sub.id)] = dlq
                self.log.info(
                    "Subscription %s (%s): replayed the dead-letter queue, %d message(s) came back",
                    sub.id,
                    sub.event_name,
                    dlq,
                )
        total = sum(replayed.values())
        self.log.info(
            "Webhook health: %d subscription(s) checked, %d reactivated, %d dead-lettered message(s) replayed",
            len(ours),
            len(reactivated),
            total,
        )
        return {"checked": len(ours), "reactivated": reactivated, "replayed": replayed, "replayed_total": total}

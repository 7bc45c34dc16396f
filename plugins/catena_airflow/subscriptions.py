"""Webhook subscriptions as this deployment sees them: which are org-wide, which belong to one
invitation's ``callback_url``, and how their signing secrets get into the inbox. No Airflow imports.

Catena keeps two kinds of subscriptions for a partner: the ones the partner creates (org-wide, no
``filters``), and the ones Catena creates for an invitation's ``callback_url`` (``filters.fleet_refs``
holds that invitation's ref). Only the first kind stands for "the deployment is subscribed to event X";
the second is one fleet's. A secret is never guessed: it is read where Catena shows it, or replaced
(rotated) with one we generate, stored first so that no delivery signed with it is refused.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catena_airflow.client import CatenaClient
    from catena_airflow.client.models import WebhookSubscription
    from catena_airflow.inbox import InboxStore

log = logging.getLogger(__name__)

MASK = "*****"


def url_matches(read_url: str, url: str) -> bool:
    """Whether a subscription URL as Catena reads it back (possibly masked) is ``url``."""
    if read_url == url:
        return True
    if read_url.endswith(MASK):
        prefix = read_url[: -len(MASK)]
        return "://" in prefix and prefix.split("://", 1)[1].strip("/") != "" and url.startswith(prefix)
    return False


def is_org_wide(subscription: WebhookSubscription) -> bool:
    """No filter: every fleet's events (as opposed to Catena's per-invitation ``callback_url`` ones)."""
    filters = subscription.filters
    return filters is None or not (filters.fleet_ids or filters.fleet_refs)


def callback_subscriptions(
    subscriptions: Iterable[WebhookSubscription], *, url: str, fleet_ref: str
) -> list[WebhookSubscription]:
    """The subscriptions Catena made for an invitation of ``fleet_ref`` whose callback_url is ``url``."""
    return [
        s
        for s in subscriptions
        if s.filters is not None and fleet_ref in (s.filters.fleet_refs or ()) and url_matches(s.url, url)
    ]


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def rotate_secret(
    client: CatenaClient,
    store: InboxStore,
    subscription: WebhookSubscription,
    *,
    url: str | None,
    previous_known: bool = True,
) -> None:
    """Give ``subscription`` a secret we generate. Stored (as the next secret) BEFORE Catena signs with
    it, so a delivery in between verifies instead of getting a 401 (which Catena counts as delivered);
    the old secret stays valid for the inbox's grace period. ``previous_known=False``: the old secret was
    Catena's own and never shown to us; deliveries signed with it get 503 during the grace (retried,
    then signed with the new one)."""
    secret = new_secret()
    webhook_id = str(subscription.id)
    store.stage_subscription_secret(webhook_id, secret, event_name=subscription.event_name, url=url)
    try:
        client.update_webhook_subscription(webhook_id, secret=secret)
    except Exception:
        store.discard_subscription_secret(webhook_id)
        raise
    store.promote_subscription_secret(webhook_id, previous_known=previous_known)


def adopt_secret(
    client: CatenaClient, store: InboxStore, subscription: WebhookSubscription, *, url: str | None, known: set[str]
) -> str:
    """Make sure the inbox holds ``subscription``'s secret: ``known`` already, ``read`` from Catena, or
    ``rotated`` when Catena masks it."""
    webhook_id = str(subscription.id)
    if webhook_id in known:
        return "known"
    current = client.get_webhook_subscription(webhook_id)
    if current.secret is not None and not current.secret_is_masked:
        store.save_subscription_secret(
            webhook_id, current.secret.get_secret_value(), event_name=current.event_name, url=url
        )
        return "read"
    rotate_secret(client, store, current, url=url, previous_known=False)
    return "rotated"


def known_subscription_ids(store: InboxStore) -> set[str]:
    """Webhook ids whose signing secret the inbox holds (read without decrypting any secret)."""
    return {str(row["webhook_id"]) for row in store.subscriptions()}


__all__ = [
    "adopt_secret",
    "callback_subscriptions",
    "is_org_wide",
    "known_subscription_ids",
    "new_secret",
    "rotate_secret",
    "url_matches",
]

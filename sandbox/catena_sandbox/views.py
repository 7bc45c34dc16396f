"""REST representations of the sandbox's resources, field for field as Catena's ``*Read`` schemas."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from catena_sandbox.clock import iso
from catena_sandbox.events import (
    SCHEDULE_FIELDS,
    execution_record,
    fields_of,
    invitation_record,
    share_agreement_record,
)
from catena_sandbox.settings import Settings
from catena_sandbox.state import (
    Connection,
    Execution,
    Fleet,
    Invitation,
    Schedule,
    ShareAgreement,
    Subscription,
    SubscriptionStats,
)
from catena_sandbox.variations import Variations

MASK = "*****"
WINDOWS = {"6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 86400, "14d": 14 * 86400}
CONTACT_FIELDS = (
    "email",
    "regulatory_id",
    "regulatory_id_type",
    "phone",
    "website",
    "country_code",
)
CONNECTION_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "fleet_id",
    "fleet_ref",
    "tsp_id",
    "source_name",
    "credentials",
    "status",
    "description",
)


def invitation_view(invitation: Invitation, settings: Settings, magic_link: str) -> dict[str, Any]:
    """``InvitationRead``: the event record plus the fields only the REST object has."""
    body = invitation_record(invitation, magic_link, settings.partner_id, settings.partner_slug)
    body["fleet_name"] = invitation.fleet_name
    body["permissions"] = dict(invitation.permissions)
    for name in CONTACT_FIELDS:
        value = getattr(invitation, f"fleet_{name}")
        body[f"fleet_{name}"] = value
        body[f"partner_provided_fleet_{name}"] = value
    return body


def share_agreement_view(agreement: ShareAgreement, variations: Variations) -> dict[str, Any]:
    """``ShareAgreementRead``: the event record's fields and variations, with only spec-valid scope levels."""
    return share_agreement_record(agreement, variations, event=False)


def fleet_view(fleet: Fleet) -> dict[str, Any]:
    return {
        "id": fleet.id,
        "name": fleet.name,
        "description": None,
        "display_name": fleet.name,
        "legal_name": None,
        "dba_name": None,
        "websites": fleet.websites,
        "invitation_id": fleet.invitation_id,
        "fleet_ref": fleet.fleet_ref,
        "regulatory_id": fleet.regulatory_id,
        "regulatory_id_type": fleet.regulatory_id_type,
        "regulatory_id_date": None,
        "regulatory_id_status": None,
        "registered_email": fleet.registered_email,
        "registered_phone": fleet.registered_phone,
        "registered_fax": None,
        "address": None,
        "city": None,
        "province": None,
        "postal_code": None,
        "country_code": fleet.country_code,
        "created_at": iso(fleet.created_at),
        "updated_at": iso(fleet.updated_at),
    }


def connection_view(connection: Connection, variations: Variations) -> dict[str, Any]:
    """``ConnectionRead``; secrets masked as Catena does (the API-key credentials family)."""
    shown = variations.choose("connection_fleet_ref", connection.fleet_ref) == "set"
    return fields_of(
        connection,
        CONNECTION_FIELDS,
        credentials={"api_key": MASK, "url": None, "user_id": None},
        fleet_ref=connection.fleet_ref if shown else None,
    )


def schedule_view(schedule: Schedule) -> dict[str, Any]:
    return fields_of(schedule, SCHEDULE_FIELDS)


def execution_view(execution: Execution) -> dict[str, Any]:
    body = execution_record(execution)
    body.update(cursor=None, response=execution.response, last_data_at=iso(execution.last_data_at))
    return body


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/{MASK}"


def subscription_view(
    subscription: Subscription, settings: Settings, variations: Variations, *, secret: str | None = None
) -> dict[str, Any]:
    """``WebhookRead``; with ``secret`` the create response (``Webhook``: also ``partner_id`` and ``deleted_at``).

    Reads mask the secret, except, in one variation, those of an invitation's callback_url subscriptions
    (the docs do not say how Catena shows a secret the partner never chose).
    """
    if secret is None:
        fleet_ref = subscription.callback_fleet_ref
        clear = fleet_ref is not None and variations.choose("callback_secret_read", fleet_ref) == "clear"
        shown = subscription.secret if clear else MASK
    body: dict[str, Any] = {
        "id": subscription.id,
        "url": mask_url(subscription.url) if settings.mask_urls else subscription.url,
        "event_name": subscription.event_name,
        "filters": subscription.filters,
        "secret": secret if secret is not None else shown,
        "status": subscription.status,
        "created_at": iso(subscription.created_at),
        "updated_at": iso(subscription.updated_at),
    }
    if secret is not None:
        body["partner_id"] = settings.partner_id
        body["deleted_at"] = iso(subscription.deleted_at)
    return body


def metrics_view(webhook_id: str, stats: SubscriptionStats) -> dict[str, Any]:
    now = time.time()
    attempts = [(log.created_at.timestamp(), log.status == "success", log.response_time_ms) for log in stats.logs]
    metrics: dict[str, dict[str, int | None]] = {
        key: {}
        for key in (
            "http_attempts",
            "http_success_attempts",
            "http_failure_attempts",
            "message_count",
            "message_success_count",
            "success_rate",
            "avg_response_time_ms",
        )
    }
    for window, seconds in WINDOWS.items():
        since = now - seconds
        recent = [a for a in attempts if a[0] >= since]
        outcomes = [ok for at, ok in stats.outcomes if at >= since]
        successes = sum(1 for a in recent if a[1])
        times = [a[2] for a in recent if a[2] is not None]
        delivered = sum(1 for ok in outcomes if ok)
        metrics["http_attempts"][window] = len(recent)
        metrics["http_success_attempts"][window] = successes
        metrics["http_failure_attempts"][window] = len(recent) - successes
        metrics["message_count"][window] = len(outcomes)
        metrics["message_success_count"][window] = delivered
        metrics["success_rate"][window] = round(100 * delivered / len(outcomes)) if outcomes else None
        metrics["avg_response_time_ms"][window] = round(sum(times) / len(times)) if times else None
    return {
        "webhook_id": webhook_id,
        **metrics,
        "ewma_success_rate": stats.ewma_success_rate,
        "dlq_count": len(stats.dlq),
    }

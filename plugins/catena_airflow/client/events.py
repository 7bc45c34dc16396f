"""Catena webhook wire format: the envelope, event names and typed records (catena-api.md §3.4, §3.9).

Records are parsed leniently: each requires only its identifiers (and ``status`` where the family has
one). A signed, well-formed event must never be rejected because Catena left out a field the schema
calls required; the raw ``data`` stays in the envelope untouched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from catena_airflow.client._base import CatenaModel, Secret
from catena_airflow.client.models import (
    ConnectionStatus,
    ExecutionStatus,
    InvitationStatus,
    ScheduleStatus,
    ShareAgreementStatus,
    ShareLevel,
    WebhookFilters,
    WebhookStatus,
)

__all__ = [
    "CONNECTION_CREATED",
    "CONNECTION_STALED",
    "CONNECTION_WILDCARD",
    "EXECUTION_CREATED",
    "EXECUTION_FAILED",
    "EXECUTION_STALED",
    "EXECUTION_WILDCARD",
    "FLEET_CONNECTION_CREATED",
    "FLEET_CONNECTION_WILDCARD",
    "INVITATION_ACCEPTED",
    "INVITATION_CREATED",
    "INVITATION_DECLINED",
    "INVITATION_DELETED",
    "INVITATION_EXPIRED",
    "INVITATION_REJECTED",
    "INVITATION_SENT",
    "INVITATION_VIEWED",
    "INVITATION_WILDCARD",
    "ONBOARDING_EVENTS",
    "ONBOARDING_WILDCARDS",
    "OPERATIONAL_EVENTS",
    "SCHEDULE_DEACTIVATED",
    "SCHEDULE_WILDCARD",
    "SHARE_AGREEMENT_CREATED",
    "SHARE_AGREEMENT_DELETED",
    "SHARE_AGREEMENT_UPDATED",
    "SHARE_AGREEMENT_WILDCARD",
    "WEBHOOK_STALED",
    "WEBHOOK_WILDCARD",
    "ConnectionEventRecord",
    "EventRecord",
    "ExecutionEventRecord",
    "FleetConnectionEventRecord",
    "InvitationEventRecord",
    "ScheduleEventRecord",
    "ShareAgreementEventRecord",
    "WebhookEnvelope",
    "WebhookEventRecord",
    "event_family",
    "parse_records",
    "record_model_for",
    "wildcard_for",
]

INVITATION_CREATED = "invitation.created"
INVITATION_SENT = "invitation.sent"
INVITATION_VIEWED = "invitation.viewed"
INVITATION_ACCEPTED = "invitation.accepted"
INVITATION_DECLINED = "invitation.declined"
#: Deprecated alias of ``invitation.declined`` still in the event enum.
INVITATION_REJECTED = "invitation.rejected"
INVITATION_EXPIRED = "invitation.expired"
INVITATION_DELETED = "invitation.deleted"
SHARE_AGREEMENT_CREATED = "share_agreement.created"
SHARE_AGREEMENT_UPDATED = "share_agreement.updated"
SHARE_AGREEMENT_DELETED = "share_agreement.deleted"
CONNECTION_CREATED = "connection.created"
CONNECTION_STALED = "connection.staled"
FLEET_CONNECTION_CREATED = "fleet_connection.created"
EXECUTION_CREATED = "execution.created"
EXECUTION_STALED = "execution.staled"
EXECUTION_FAILED = "execution.failed"
SCHEDULE_DEACTIVATED = "schedule.deactivated"
WEBHOOK_STALED = "webhook.staled"

INVITATION_WILDCARD = "invitation.*"
SHARE_AGREEMENT_WILDCARD = "share_agreement.*"
CONNECTION_WILDCARD = "connection.*"
FLEET_CONNECTION_WILDCARD = "fleet_connection.*"
EXECUTION_WILDCARD = "execution.*"
SCHEDULE_WILDCARD = "schedule.*"
WEBHOOK_WILDCARD = "webhook.*"

#: Every event of an invitation's life, ending with ``fleet_connection.created``.
ONBOARDING_EVENTS: tuple[str, ...] = (
    INVITATION_CREATED,
    INVITATION_SENT,
    INVITATION_VIEWED,
    INVITATION_ACCEPTED,
    INVITATION_DECLINED,
    INVITATION_REJECTED,
    INVITATION_EXPIRED,
    INVITATION_DELETED,
    SHARE_AGREEMENT_CREATED,
    SHARE_AGREEMENT_UPDATED,
    SHARE_AGREEMENT_DELETED,
    CONNECTION_CREATED,
    FLEET_CONNECTION_CREATED,
)
#: Subscriptions that cover :data:`ONBOARDING_EVENTS` (connection.* also brings ``connection.staled``).
ONBOARDING_WILDCARDS: tuple[str, ...] = (
    INVITATION_WILDCARD,
    SHARE_AGREEMENT_WILDCARD,
    CONNECTION_WILDCARD,
    FLEET_CONNECTION_WILDCARD,
)
#: Events that need action after onboarding.
OPERATIONAL_EVENTS: tuple[str, ...] = (CONNECTION_STALED, EXECUTION_FAILED, SCHEDULE_DEACTIVATED)


class WebhookEnvelope(CatenaModel):
    """The JSON body of one delivery (after gunzip). ``id`` is the stable dedupe key across retries.

    ``version`` is documented as ``^\\d+\\.\\d+$`` but only required non-empty: the spec's own examples
    break the pattern, and a signed event must not be lost over a version string.
    """

    version: str = Field(min_length=1)
    event_name: str = ""
    data: list[dict[str, Any]]
    webhook_id: str
    timestamp: datetime | None = None
    id: str | None = None
    delivery_attempt: int = 0

    @property
    def family(self) -> str:
        return event_family(self.event_name)

    def records(self) -> list[EventRecord]:
        """The ``data`` items as typed records of this event's family."""
        return parse_records(self)


class EventRecord(CatenaModel):
    """A record of a family this client has no dedicated model for (e.g. telematics ``vehicle.*``)."""

    id: str | None = None


class InvitationEventRecord(EventRecord):
    """``BaseInvitationEvent``; ``status`` is the invitation status after the transition."""

    model_config = ConfigDict(hide_input_in_errors=True)

    id: str
    status: InvitationStatus
    fleet_ref: str | None = None
    fleet_id: str | None = None
    created_at: datetime | None = None
    magic_link: str | None = None
    expires_at: datetime | None = None
    expires_in_hours: int | None = None
    partner_provided_fleet_name: str | None = None
    accepted_at: datetime | None = None
    declined_at: datetime | None = None
    decline_reason: str | None = None
    pre_registration_access_token: Secret | None = None
    pre_registration_refresh_token: Secret | None = None
    success_redirect_url: str | None = None
    failure_redirect_url: str | None = None
    callback_url: str | None = None
    limit_tsps: list[str] | None = None
    partner_slug: str | None = None
    partner_id: str | None = None


class ShareAgreementEventRecord(EventRecord):
    """``BaseShareAgreementEvent``."""

    id: str
    status: ShareAgreementStatus
    fleet_id: str | None = None
    partner_id: str | None = None
    #: Older spec versions only; a cross-check, never a key (inbox/correlation.py).
    invitation_id: str | None = None
    fleet_ref: str | None = None
    #: The event schema lets the map and each level be null.
    scopes: dict[str, ShareLevel | None] | None = None
    effective_date: datetime | None = None
    expiration_date: datetime | None = None


class ConnectionEventRecord(EventRecord):
    """``BaseConnectionEvent`` (no ``fleet_ref`` in this schema)."""

    id: str
    status: ConnectionStatus
    fleet_id: str | None = None
    tsp_id: str | None = None
    source_name: str | None = None


class FleetConnectionEventRecord(EventRecord):
    """``BaseFleetConnectionEvent``: the last onboarding step; ingestion starts shortly after."""

    id: str
    fleet_id: str
    connection_id: str


class ExecutionEventRecord(EventRecord):
    """``BaseExecutionEvent``; ``execution.failed`` is one failed fetch, which Catena retries itself."""

    id: str
    status: ExecutionStatus
    schedule_id: str | None = None
    connection_id: str | None = None
    fleet_id: str | None = None
    source_name: str | None = None
    resource: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ScheduleEventRecord(EventRecord):
    """``BaseScheduleEvent``; ``schedule.deactivated`` means ingestion stopped until reactivated."""

    id: str
    status: ScheduleStatus
    connection_id: str | None = None
    resource: str | None = None
    execution_interval_seconds: int | None = None
    consecutive_error_threshold: int | None = None
    max_concurrent_executions: int | None = None


class WebhookEventRecord(EventRecord):
    """``BaseWebhookEvent`` (e.g. ``webhook.staled``)."""

    id: str
    url: str | None = None
    event_name: str | None = None
    filters: WebhookFilters | None = None
    status: WebhookStatus | None = None


_RECORD_MODELS: dict[str, type[EventRecord]] = {
    "invitation": InvitationEventRecord,
    "share_agreement": ShareAgreementEventRecord,
    "connection": ConnectionEventRecord,
    "fleet_connection": FleetConnectionEventRecord,
    "execution": ExecutionEventRecord,
    "schedule": ScheduleEventRecord,
    "webhook": WebhookEventRecord,
}


def event_family(event_name: str) -> str:
    """``"invitation.accepted"`` -> ``"invitation"``."""
    return event_name.partition(".")[0]


def wildcard_for(event_name: str) -> str:
    """``"invitation.accepted"`` -> ``"invitation.*"`` (the catch-all subscription covering it)."""
    return f"{event_family(event_name)}.*"


def record_model_for(event_name: str) -> type[EventRecord]:
    """The record model of an event's family; :class:`EventRecord` for families without one."""
    return _RECORD_MODELS.get(event_family(event_name), EventRecord)


def parse_records(envelope: WebhookEnvelope) -> list[EventRecord]:
    """Typed records of an envelope; raises :class:`pydantic.ValidationError` on a malformed record."""
    model = record_model_for(envelope.event_name)
    return [model.model_validate(item) for item in envelope.data]

"""Catena's webhook event catalogue, wildcard expansion, subscription filters and event record shapes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from catena_sandbox.clock import iso
from catena_sandbox.state import (
    UNSHARED_RESOURCES,
    Connection,
    Execution,
    FleetConnection,
    Invitation,
    Schedule,
    ShareAgreement,
)
from catena_sandbox.variations import Variations

# Concrete events per family (catena-api.md §3.8). The deprecated ``invitation.rejected`` may be
# subscribed to explicitly but is not part of the ``invitation.*`` expansion (the sandbox emits ``declined``).
FAMILIES: dict[str, tuple[str, ...]] = {
    "invitation": ("created", "sent", "viewed", "accepted", "declined", "expired", "deleted"),
    "share_agreement": ("created", "updated", "deleted"),
    "connection": ("created", "staled"),
    "fleet_connection": ("created",),
    "execution": ("created", "staled", "failed"),
    "schedule": ("deactivated",),
    "webhook": ("created", "updated", "deleted", "staled", "activated", "paused"),
    "vehicle": ("added", "modified", "removed"),
    "trailer": ("added", "modified", "removed"),
    "trailer_location": ("added", "modified"),
    "trailer_status": ("added", "modified"),
    "vehicle_location": ("added",),
    "user": ("added", "modified", "removed"),
    "ifta_summary": ("added", "modified", "removed"),
    "hos_availability": ("added", "modified", "removed"),
    "hos_daily_snapshot": ("added", "modified", "removed"),
    "hos_event": ("added", "modified", "removed"),
    "hos_violation": ("added", "modified", "removed"),
    "engine_log": ("added", "modified", "removed"),
    "dvir_log": ("added", "modified", "removed"),
    "driver_vehicle_association": ("added", "modified"),
    "trailer_vehicle_association": ("added", "modified"),
    "workflow": ("added", "modified", "removed"),
    "resource_operation": ("created", "succeeded", "failed"),
    "engine_status": ("added", "modified"),
    "fuel_transaction": ("added", "modified"),
    "group_message": ("added", "modified"),
    "message": ("added", "modified"),
}
EXTRA_EVENTS = frozenset({"invitation.rejected", "tsp.created", "tsp.requested"})
CONCRETE_EVENTS = frozenset(f"{family}.{action}" for family, actions in FAMILIES.items() for action in actions) | (
    EXTRA_EVENTS
)
# Families whose events describe one fleet onboarding; an invitation's callback_url subscribes to these.
LIFECYCLE_FAMILIES = ("invitation", "share_agreement", "connection", "fleet_connection")


def expand_event_name(event_name: str) -> list[str] | None:
    """Concrete events a subscription request stands for; None when the name is not in Catena's catalogue."""
    if event_name.endswith(".*"):
        actions = FAMILIES.get(event_name[:-2])
        return None if actions is None else [f"{event_name[:-2]}.{action}" for action in actions]
    return [event_name] if event_name in CONCRETE_EVENTS else None


def normalise_filters(filters: dict[str, Any] | None) -> dict[str, list[str] | None] | None:
    if not filters:
        return None
    fleet_ids = filters.get("fleet_ids") or None
    fleet_refs = filters.get("fleet_refs") or None
    if fleet_ids is None and fleet_refs is None:
        return None
    return {
        "fleet_ids": sorted(str(x) for x in fleet_ids) if fleet_ids else None,
        "fleet_refs": sorted(fleet_refs) if fleet_refs else None,
    }


@dataclass(frozen=True)
class About:
    """The fleet an event concerns, as the sandbox knows it, whatever its record shows.

    Catena knows which fleet each event is about, so subscription filters match on that: a connection
    event reaches a ``fleet_refs`` filter although its record has no ``fleet_ref``, and an invitation event
    whose record shows ``fleet_ref: null`` (a variation) still reaches its fleet's filter.
    """

    fleet_ref: str | None = None
    fleet_id: str | None = None

    @classmethod
    def of(cls, record: dict[str, Any]) -> About:
        """For a record the sandbox knows nothing more about (synthetic events): its own fields."""
        fleet_ref, fleet_id = record.get("fleet_ref"), record.get("fleet_id")
        return cls(
            fleet_ref=fleet_ref if isinstance(fleet_ref, str) else None,
            fleet_id=None if fleet_id is None else str(fleet_id),
        )


def matches_filters(filters: dict[str, list[str] | None] | None, about: About) -> bool:
    """OR across the two lists; an event about no known fleet id (or ref) does not match that list."""
    if not filters:
        return True
    fleet_ids, fleet_refs = filters.get("fleet_ids"), filters.get("fleet_refs")
    if fleet_ids and about.fleet_id is not None and about.fleet_id in fleet_ids:
        return True
    return bool(fleet_refs and about.fleet_ref is not None and about.fleet_ref in fleet_refs)


def fields_of(obj: object, names: Iterable[str], **computed: Any) -> dict[str, Any]:
    """The named attributes of ``obj`` in ``names`` order (timestamps as Catena writes them).

    One field list per shape: views and event records select from it instead of repeating it. ``computed``
    supplies the fields that are not plain attributes (renamed, masked or not stored).
    """
    return {name: computed[name] if name in computed else _plain(getattr(obj, name)) for name in names}


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


INVITATION_EVENT_FIELDS = (
    "id",
    "created_at",
    "magic_link",
    "expires_at",
    "expires_in_hours",
    "status",
    "partner_provided_fleet_name",
    "accepted_at",
    "pre_registration_access_token",
    "pre_registration_refresh_token",
    "success_redirect_url",
    "failure_redirect_url",
    "callback_url",
    "limit_tsps",
    "fleet_id",
    "partner_slug",
    "partner_id",
    "decline_reason",
    "declined_at",
    "fleet_ref",
)
# ``ShareAgreementRead`` and ``BaseShareAgreementEvent`` (the newest specs): no ``invitation_id``, a variation adds it.
SHARE_AGREEMENT_FIELDS = (
    "id",
    "fleet_id",
    "partner_id",
    "fleet_ref",
    "status",
    "effective_date",
    "expiration_date",
    "scopes",
)
CONNECTION_EVENT_FIELDS = ("id", "source_name", "fleet_id", "tsp_id", "status")  # BaseConnectionEvent: no fleet_ref
FLEET_CONNECTION_EVENT_FIELDS = ("id", "fleet_id", "connection_id")
EXECUTION_EVENT_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "schedule_id",
    "connection_id",
    "fleet_id",
    "status",
    "source_name",
    "resource",
)
# ``ScheduleRead``; the event leaves out the run state (error count, cursor, last data).
SCHEDULE_FIELDS = (
    "id",
    "connection_id",
    "resource",
    "execution_interval_seconds",
    "status",
    "consecutive_error_count",
    "consecutive_error_threshold",
    "max_concurrent_executions",
    "cursor",
    "last_data_at",
)
SCHEDULE_EVENT_FIELDS = tuple(
    name for name in SCHEDULE_FIELDS if name not in {"consecutive_error_count", "cursor", "last_data_at"}
)


def invitation_record(invitation: Invitation, magic_link: str, partner_id: str, partner_slug: str) -> dict[str, Any]:
    """The fields ``InvitationRead`` shares with ``BaseInvitationEvent``, as stored (no variation)."""
    return fields_of(
        invitation,
        INVITATION_EVENT_FIELDS,
        magic_link=magic_link,
        partner_provided_fleet_name=invitation.fleet_name,
        partner_slug=partner_slug,
        partner_id=partner_id,
    )


def invitation_event_record(
    invitation: Invitation, magic_link: str, partner_id: str, partner_slug: str, variations: Variations
) -> dict[str, Any]:
    """``BaseInvitationEvent``: both fleet fields are nullable there, and each is null in one variation."""
    record = invitation_record(invitation, magic_link, partner_id, partner_slug)
    if record["fleet_id"] is not None and variations.choose("invitation_fleet_id", invitation.fleet_ref) == "null":
        record["fleet_id"] = None
    if variations.choose("invitation_fleet_ref", invitation.fleet_ref) == "null":
        record["fleet_ref"] = None
    return record


def share_agreement_record(agreement: ShareAgreement, variations: Variations, *, event: bool) -> dict[str, Any]:
    """``BaseShareAgreementEvent`` (``event``) or ``ShareAgreementRead``, with the variations of its fleet."""
    fleet_ref = agreement.sandbox_fleet_ref
    scopes = {name: level for name, level in agreement.scopes.items() if event or level is not None}
    if event and variations.choose("share_agreement_event_scopes", fleet_ref) == "with_nulls":
        scopes.update((name, None) for name in UNSHARED_RESOURCES if name not in scopes)
    record = fields_of(agreement, SHARE_AGREEMENT_FIELDS, scopes=scopes)
    shown = variations.choose("share_agreement_invitation_id", fleet_ref)
    if shown != "absent":
        record["invitation_id"] = agreement.invitation_id if shown == "present" else None
    return record


def connection_record(connection: Connection) -> dict[str, Any]:
    return fields_of(connection, CONNECTION_EVENT_FIELDS)


def fleet_connection_record(fleet_connection: FleetConnection) -> dict[str, Any]:
    return fields_of(fleet_connection, FLEET_CONNECTION_EVENT_FIELDS)


def execution_record(execution: Execution) -> dict[str, Any]:
    return fields_of(execution, EXECUTION_EVENT_FIELDS)


def schedule_record(schedule: Schedule) -> dict[str, Any]:
    return fields_of(schedule, SCHEDULE_EVENT_FIELDS)

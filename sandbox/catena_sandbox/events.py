"""Catena's webhook event catalogue, wildcard expansion, subscription filters and event record shapes."""

from __future__ import annotations

from typing import Any

from catena_sandbox.clock import iso
from catena_sandbox.state import Connection, Execution, FleetConnection, Invitation, Schedule, ShareAgreement

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


def matches_filters(filters: dict[str, list[str] | None] | None, record: dict[str, Any]) -> bool:
    """OR across the two lists; a record lacking a field (or with it null) does not match that list."""
    if not filters:
        return True
    fleet_ids, fleet_refs = filters.get("fleet_ids"), filters.get("fleet_refs")
    if fleet_ids and record.get("fleet_id") is not None and str(record["fleet_id"]) in fleet_ids:
        return True
    return bool(fleet_refs and record.get("fleet_ref") is not None and record["fleet_ref"] in fleet_refs)


def invitation_record(invitation: Invitation, magic_link: str, partner_id: str, partner_slug: str) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "created_at": iso(invitation.created_at),
        "magic_link": magic_link,
        "expires_at": iso(invitation.expires_at),
        "expires_in_hours": invitation.expires_in_hours,
        "status": invitation.status,
        "partner_provided_fleet_name": invitation.fleet_name,
        "accepted_at": iso(invitation.accepted_at),
        "pre_registration_access_token": invitation.pre_registration_access_token,
        "pre_registration_refresh_token": invitation.pre_registration_refresh_token,
        "success_redirect_url": invitation.success_redirect_url,
        "failure_redirect_url": invitation.failure_redirect_url,
        "callback_url": invitation.callback_url,
        "limit_tsps": invitation.limit_tsps,
        "fleet_id": invitation.fleet_id,
        "partner_slug": partner_slug,
        "partner_id": partner_id,
        "decline_reason": invitation.decline_reason,
        "declined_at": iso(invitation.declined_at),
        "fleet_ref": invitation.fleet_ref,
    }


def share_agreement_record(agreement: ShareAgreement) -> dict[str, Any]:
    return {
        "id": agreement.id,
        "fleet_id": agreement.fleet_id,
        "partner_id": agreement.partner_id,
        "invitation_id": agreement.invitation_id,
        "fleet_ref": agreement.fleet_ref,
        "status": agreement.status,
        "effective_date": iso(agreement.effective_date),
        "expiration_date": iso(agreement.expiration_date),
        "scopes": dict(agreement.scopes),
    }


def connection_record(connection: Connection) -> dict[str, Any]:
    # Catena's BaseConnectionEvent has no fleet_ref.
    return {
        "id": connection.id,
        "source_name": connection.source_name,
        "fleet_id": connection.fleet_id,
        "tsp_id": connection.tsp_id,
        "status": connection.status,
    }


def fleet_connection_record(fleet_connection: FleetConnection) -> dict[str, Any]:
    return {
        "id": fleet_connection.id,
        "fleet_id": fleet_connection.fleet_id,
        "connection_id": fleet_connection.connection_id,
    }


def execution_record(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.id,
        "created_at": iso(execution.created_at),
        "updated_at": iso(execution.updated_at),
        "schedule_id": execution.schedule_id,
        "connection_id": execution.connection_id,
        "fleet_id": execution.fleet_id,
        "status": execution.status,
        "source_name": execution.source_name,
        "resource": execution.resource,
    }


def schedule_record(schedule: Schedule) -> dict[str, Any]:
    return {
        "id": schedule.id,
        "connection_id": schedule.connection_id,
        "resource": schedule.resource,
        "execution_interval_seconds": schedule.execution_interval_seconds,
        "status": schedule.status,
        "consecutive_error_threshold": schedule.consecutive_error_threshold,
        "max_concurrent_executions": schedule.max_concurrent_executions,
    }

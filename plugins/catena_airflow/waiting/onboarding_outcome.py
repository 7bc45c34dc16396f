"""What an onboarding's state means for the task waiting on it (shared by the sensor and its trigger).

Pure functions over the inbox's ``Onboarding``: no I/O, no Airflow.
"""

from __future__ import annotations

from typing import Any

from catena_airflow.inbox.models import PROGRESS_STAGES, Onboarding, Stage

CONNECTED = "connected"
DECLINED = "declined"
EXPIRED = "expired"
DELETED = "deleted"
FAILURE_STATUSES = frozenset({DECLINED, EXPIRED, DELETED})

SOURCE_WEBHOOK = "webhook"
SOURCE_RECONCILIATION = "reconciliation"
SOURCE_INBOX = "inbox"  # already connected when the sensor first looked

_STAGE_LABELS = {
    Stage.INVITED: "invitation created",
    Stage.SENT: "invitation e-mailed",
    Stage.VIEWED: "magic link viewed",
    Stage.ACCEPTED: "invitation accepted",
    Stage.SHARE_AGREEMENT: "share agreement signed",
    Stage.CONNECTION: "telematics provider connected",
    Stage.CONNECTED: "fleet connected",
    Stage.DECLINED: "invitation declined",
    Stage.EXPIRED: "invitation expired",
    Stage.DELETED: "invitation deleted",
}


def describe(onboarding: Onboarding) -> str:
    return f"fleet {onboarding.fleet_ref or '?'} (invitation {onboarding.invitation_id})"


def new_stages(onboarding: Onboarding, seen: set[Stage]) -> list[tuple[Stage, str]]:
    """Stages reached since ``seen`` (which is updated), in onboarding order, each with a log line."""
    order = {stage: i for i, stage in enumerate((*PROGRESS_STAGES, Stage.DECLINED, Stage.EXPIRED, Stage.DELETED))}
    fresh = sorted((s for s in onboarding.stage_times if s not in seen), key=lambda s: order.get(s, 99))
    seen.update(fresh)
    lines = []
    for stage in fresh:
        at = onboarding.stage_times[stage]
        lines.append((stage, f"{describe(onboarding)}: {_STAGE_LABELS.get(stage, stage.value)} at {at.isoformat()}"))
    return lines


def outcome(onboarding: Onboarding | None) -> dict[str, Any] | None:
    """The event payload once the wait is over (connected or failed); None while it goes on."""
    if onboarding is None or not onboarding.is_terminal:
        return None
    base: dict[str, Any] = {
        "invitation_id": onboarding.invitation_id,
        "fleet_ref": onboarding.fleet_ref,
        "fleet_id": onboarding.fleet_id,
    }
    if onboarding.is_connected:
        return {
            **base,
            "status": CONNECTED,
            "connection_ids": sorted(onboarding.connection_ids),
            "share_agreement_id": onboarding.share_agreement_id,
            "share_agreement_scopes": dict(onboarding.share_agreement_scopes),
            "connected_at": _iso(onboarding.stage_times.get(Stage.CONNECTED) or onboarding.connected_at),
        }
    stage = onboarding.stage
    if stage is Stage.DECLINED:
        reason = onboarding.decline_reason or "no reason given"
        return {
            **base,
            "status": DECLINED,
            "decline_reason": onboarding.decline_reason,
            "message": f"{describe(onboarding)} declined the invitation: {reason}",
        }
    status = EXPIRED if stage is Stage.EXPIRED else DELETED
    when = _iso(onboarding.stage_times.get(stage)) or "unknown time"
    return {**base, "status": status, "message": f"The invitation of {describe(onboarding)} was {status} ({when})"}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def validate_event(event: Any, expected_invitation: str | None = None) -> dict[str, Any]:
    """Check a resumed task's event is one this module produced (and for the right invitation)."""
    if not isinstance(event, dict) or event.get("status") not in {CONNECTED, *FAILURE_STATUSES, "error"}:
        raise ValueError(f"unexpected trigger event: {event!r}")
    if expected_invitation and event.get("invitation_id") not in (None, expected_invitation):
        raise ValueError(f"event for invitation {event.get('invitation_id')}, expected {expected_invitation}")
    return event

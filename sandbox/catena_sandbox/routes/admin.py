"""The sandbox's own admin API (``/sandbox/...``, no auth): drive each step by hand, set faults, inspect."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from catena_sandbox.clock import iso
from catena_sandbox.errors import CatenaError
from catena_sandbox.events import CONCRETE_EVENTS
from catena_sandbox.routes.common import SandboxDep
from catena_sandbox.runtime import Sandbox
from catena_sandbox.scenarios import behaviour_of
from catena_sandbox.views import connection_view, invitation_view, schedule_view

router = APIRouter(prefix="/sandbox", tags=["sandbox admin"])


class DeclineBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    decline_reason: str | None = None


class FailBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    count: int = Field(default=1, ge=1, le=1000)
    schedule_id: str | None = None


def _one_empty_record() -> list[dict[str, Any]]:
    return [{}]


class EmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_name: str
    data: list[dict[str, Any]] = Field(default_factory=_one_empty_record)
    count: int = Field(default=1, ge=1, le=1_000_000)


def _invitation_detail(sandbox: Sandbox, invitation_id: str) -> dict[str, Any]:
    invitation = sandbox.simulator.invitation(invitation_id)
    body = invitation_view(invitation, sandbox.settings, sandbox.simulator.magic_link(invitation))
    schedules = [
        schedule_view(s) for s in sandbox.store.schedules.values() if s.connection_id == invitation.connection_id
    ]
    connection = sandbox.store.connections.get(invitation.connection_id or "")
    body["sandbox"] = {
        "scenario": invitation.scenario,
        "behaviour": behaviour_of(invitation),  # what the -once scenarios do in this attempt
        "share_agreement_id": invitation.share_agreement_id,
        "connection_id": invitation.connection_id,
        "connection": connection_view(connection, sandbox.variations) if connection else None,
        "variations": sandbox.variations.resolved(invitation.fleet_ref),
        "callback_webhook_ids": [
            s.id
            for s in sandbox.store.subscriptions.values()
            if s.invitation_id == invitation.id and s.status != "deleted"
        ],
        "schedules": schedules,
    }
    return body


@router.get("/health")
def health(sandbox: SandboxDep) -> dict[str, Any]:
    return {"status": "ok", "speed": sandbox.settings.speed, "base_url": sandbox.settings.base_url}


@router.post("/reset")
def reset(sandbox: SandboxDep) -> dict[str, Any]:
    sandbox.reset()
    return {"status": "reset"}


@router.get("/invitations/{invitation_id}")
def get_invitation(invitation_id: str, sandbox: SandboxDep) -> dict[str, Any]:
    with sandbox.store.lock:
        return _invitation_detail(sandbox, invitation_id)


@router.post("/invitations/{invitation_id}/view")
def view_invitation(invitation_id: str, sandbox: SandboxDep) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.simulator.view(invitation_id)
        return _invitation_detail(sandbox, invitation_id)


@router.post("/invitations/{invitation_id}/accept")
def accept_invitation(invitation_id: str, sandbox: SandboxDep) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.simulator.accept(invitation_id)
        return _invitation_detail(sandbox, invitation_id)


@router.post("/invitations/{invitation_id}/decline")
def decline_invitation(
    invitation_id: str, sandbox: SandboxDep, body: Annotated[DeclineBody | None, Body()] = None
) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.simulator.decline(invitation_id, body.decline_reason if body else None)
        return _invitation_detail(sandbox, invitation_id)


@router.post("/invitations/{invitation_id}/expire")
def expire_invitation(invitation_id: str, sandbox: SandboxDep) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.simulator.expire(invitation_id)
        return _invitation_detail(sandbox, invitation_id)


@router.post("/connections/{connection_id}/stale")
def stale_connection(connection_id: str, sandbox: SandboxDep) -> dict[str, Any]:
    return connection_view(sandbox.simulator.stale_connection(connection_id), sandbox.variations)


@router.post("/connections/{connection_id}/reauthenticate")
def reauthenticate_connection(connection_id: str, sandbox: SandboxDep) -> dict[str, Any]:
    return connection_view(sandbox.simulator.reauthenticate(connection_id), sandbox.variations)


@router.post("/connections/{connection_id}/fail-executions")
def fail_executions(
    connection_id: str, sandbox: SandboxDep, body: Annotated[FailBody | None, Body()] = None
) -> dict[str, Any]:
    body = body or FailBody()
    with sandbox.store.lock:
        sandbox.simulator.connection(connection_id)
        if body.schedule_id is not None:
            schedule = sandbox.simulator.schedule(body.schedule_id, connection_id)
        else:
            candidates = [s for s in sandbox.store.schedules.values() if s.connection_id == connection_id]
            if not candidates:
                raise CatenaError(409, "The connection has no schedules yet")
            schedule = candidates[-1]
        executions = [sandbox.simulator.fail_execution(schedule.id).id for _ in range(body.count)]
        return {"schedule": schedule_view(schedule), "execution_ids": executions}


@router.post("/schedules/{schedule_id}/deactivate")
def deactivate_schedule(schedule_id: str, sandbox: SandboxDep) -> dict[str, Any]:
    return schedule_view(sandbox.simulator.deactivate_schedule(schedule_id))


@router.get("/faults")
def get_faults(sandbox: SandboxDep) -> dict[str, Any]:
    return sandbox.faults.settings.as_dict()


@router.put("/faults")
def set_faults(sandbox: SandboxDep, changes: Annotated[dict[str, float], Body()]) -> dict[str, Any]:
    """Change some fault rates; ``seed`` re-seeds the dice so a test sees the same faults every run."""
    changes = dict(changes)
    seed = changes.pop("seed", None)
    try:
        updated = sandbox.faults.update(
            {k: int(v) if k in ("retry_after_seconds", "burst_5xx_length") else v for k, v in changes.items()}
        )
    except (ValueError, TypeError) as exc:
        raise CatenaError(400, str(exc)) from exc
    if seed is not None:
        sandbox.faults.reseed(int(seed))
    return updated.as_dict()


@router.delete("/faults")
def clear_faults(sandbox: SandboxDep) -> dict[str, Any]:
    return sandbox.faults.clear().as_dict()


@router.get("/variations")
def get_variations(sandbox: SandboxDep, fleet_ref: Annotated[str | None, Query()] = None) -> dict[str, str]:
    """The knobs in force (``vary`` or a value); with ``fleet_ref``, the value each knob takes for that fleet."""
    if fleet_ref is not None:
        return sandbox.variations.resolved(fleet_ref)
    return sandbox.variations.settings


@router.put("/variations")
def set_variations(sandbox: SandboxDep, changes: Annotated[dict[str, str], Body()]) -> dict[str, str]:
    """Pin some knobs to a value, or back to ``vary``; the others stay as they are."""
    try:
        return sandbox.variations.update(changes)
    except ValueError as exc:
        raise CatenaError(400, str(exc)) from exc


@router.delete("/variations")
def clear_variations(sandbox: SandboxDep) -> dict[str, str]:
    """Every knob back to ``vary`` (``POST /sandbox/reset`` restores the start-up settings instead)."""
    return sandbox.variations.clear()


@router.get("/deliveries")
def deliveries(
    sandbox: SandboxDep,
    webhook_id: Annotated[str | None, Query()] = None,
    event_name: Annotated[str | None, Query()] = None,
    event_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 1000,
) -> list[dict[str, Any]]:
    with sandbox.store.lock:
        entries = [
            e
            for e in sandbox.store.recent
            if (webhook_id is None or e.webhook_id == webhook_id)
            and (event_name is None or e.event_name == event_name)
            and (event_id is None or e.message_id == event_id)
        ][-limit:]
        urls = {s.id: s.url for s in sandbox.store.subscriptions.values()}
    return [
        {
            "at": iso(e.created_at),
            "webhook_id": e.webhook_id,
            "url": urls.get(e.webhook_id),
            "event_id": e.message_id,
            "event_name": e.event_name,
            "attempt": e.attempt,
            "request_id": e.request_id,
            "status_code": e.status_code,
            "status": e.status,
            "delivered": e.delivered,
            "duplicate": e.duplicate,
            "error_message": e.error_message,
            "response_time_ms": e.response_time_ms,
        }
        for e in entries
    ]


@router.get("/stats")
def stats(sandbox: SandboxDep) -> dict[str, Any]:
    with sandbox.store.lock:
        dlq = sum(len(s.dlq) for s in sandbox.store.stats.values())
        subscriptions = sum(1 for s in sandbox.store.subscriptions.values() if s.status != "deleted")
    return {**sandbox.engine.stats(), "dlq": dlq, "subscriptions": subscriptions}


@router.post("/events")
def emit_events(body: EmitBody, sandbox: SandboxDep) -> dict[str, Any]:
    if body.event_name not in CONCRETE_EVENTS:
        raise CatenaError(400, f"Unknown event name {body.event_name}")
    ids = [sandbox.subscriptions.publish(body.event_name, body.data[i % len(body.data)]) for i in range(body.count)]
    return {"published": len(ids), "first_event_id": ids[0], "last_event_id": ids[-1]}

"""Notifications service: webhook subscriptions, their logs, metrics and DLQ replay."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from catena_sandbox.auth import Claims
from catena_sandbox.clock import as_utc, iso
from catena_sandbox.pagination import DEFAULT_SIZE, page
from catena_sandbox.routes.common import CursorParam, SandboxDep
from catena_sandbox.routes.validation import Url
from catena_sandbox.runtime import Sandbox
from catena_sandbox.state import DeliveryLog, Subscription
from catena_sandbox.views import metrics_view, subscription_view

router = APIRouter(tags=["notifications"])
PREFIX = "/v2/notifications/webhooks"


class WebhookFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fleet_ids: list[str] | None = Field(default=None, max_length=100)
    fleet_refs: list[str] | None = Field(default=None, max_length=100)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: Url
    event_name: str
    filters: WebhookFilters | None = None
    secret: str | None = Field(default=None, min_length=1)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: Url | None = None
    filters: WebhookFilters | None = None
    secret: str | None = Field(default=None, min_length=12)
    status: Literal["active", "paused"] | None = None


def _log_view(entry: DeliveryLog) -> dict[str, Any]:
    return {
        "created_at": iso(entry.created_at),
        "webhook_id": entry.webhook_id,
        "message_id": entry.message_id,
        "event_name": entry.event_name,
        "status": entry.status,
        "status_code": entry.status_code,
        "error_message": entry.error_message,
        "response_time_ms": entry.response_time_ms,
    }


def _read(sandbox: Sandbox, subscription: Subscription) -> dict[str, Any]:
    """``WebhookRead`` (secret masked, or per variation for callback_url subscriptions)."""
    return subscription_view(subscription, sandbox.settings, sandbox.variations)


@router.post(PREFIX)
def create_webhook(body: WebhookCreate, sandbox: SandboxDep, _claims: Claims) -> JSONResponse:
    """200 with one ``Webhook``, or a list of them for a catch-all; the only response showing the secret."""
    filters = body.filters.model_dump() if body.filters is not None else None
    created, secret = sandbox.subscriptions.create(
        url=body.url, event_name=body.event_name, filters=filters, secret=body.secret
    )
    views = [subscription_view(s, sandbox.settings, sandbox.variations, secret=secret) for s in created]
    return JSONResponse(views if body.event_name.endswith(".*") else views[0])


@router.get(PREFIX)
def list_webhooks(
    sandbox: SandboxDep,
    _claims: Claims,
    event_name: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    with sandbox.store.lock:
        items = [
            s
            for s in sandbox.store.subscriptions.values()
            if s.status != "deleted"
            and (event_name is None or s.event_name == event_name)
            and (status is None or s.status == status)
        ]
        return page(items, cursor=cursor, size=size, with_total=False, render=partial(_read, sandbox))


@router.get(PREFIX + "/{webhook_id}")
def get_webhook(webhook_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    with sandbox.store.lock:
        return _read(sandbox, sandbox.subscriptions.get(webhook_id))


@router.patch(PREFIX + "/{webhook_id}")
def update_webhook(webhook_id: str, body: WebhookUpdate, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if body.filters is not None:
        changes["filters"] = body.filters.model_dump()
    subscription = sandbox.subscriptions.update(webhook_id, changes)
    return _read(sandbox, subscription)


@router.delete(PREFIX + "/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: str, sandbox: SandboxDep, _claims: Claims) -> Response:
    sandbox.subscriptions.delete(webhook_id)
    return Response(status_code=204)


@router.post(PREFIX + "/{webhook_id}/activate")
def activate_webhook(webhook_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    return _read(sandbox, sandbox.subscriptions.set_status(webhook_id, "active"))


@router.post(PREFIX + "/{webhook_id}/pause")
def pause_webhook(webhook_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    return _read(sandbox, sandbox.subscriptions.set_status(webhook_id, "paused"))


@router.get(PREFIX + "/{webhook_id}/metrics")
def webhook_metrics(webhook_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.subscriptions.get(webhook_id)
        return metrics_view(webhook_id, sandbox.store.subscription_stats(webhook_id))


@router.get(PREFIX + "/{webhook_id}/logs")
def webhook_logs(
    webhook_id: str,
    sandbox: SandboxDep,
    _claims: Claims,
    start_date: Annotated[datetime | None, Query()] = None,
    end_date: Annotated[datetime | None, Query()] = None,
    status: Annotated[Literal["success", "failed"] | None, Query()] = None,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    start_date, end_date = as_utc(start_date), as_utc(end_date)
    with sandbox.store.lock:
        sandbox.subscriptions.get(webhook_id)
        items = [
            entry
            for entry in sandbox.store.subscription_stats(webhook_id).logs
            if (start_date is None or entry.created_at >= start_date)
            and (end_date is None or entry.created_at < end_date)
            and (status is None or entry.status == status)
        ]
        return page(items, cursor=cursor, size=size, with_total=False, render=_log_view)


@router.post(PREFIX + "/{webhook_id}/replay", status_code=202)
def replay_webhook(webhook_id: str, sandbox: SandboxDep, _claims: Claims) -> JSONResponse:
    sandbox.subscriptions.replay(webhook_id)
    return JSONResponse({}, status_code=202)

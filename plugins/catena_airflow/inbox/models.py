"""The read models the inbox hands to the rest of the system (frozen; safe to share between threads)."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Stage(StrEnum):
    """Where an onboarding stands. Progress stages in order, then the terminal failures."""

    INVITED = "invited"
    SENT = "sent"
    VIEWED = "viewed"
    ACCEPTED = "accepted"
    SHARE_AGREEMENT = "share_agreement"
    CONNECTION = "connection"
    CONNECTED = "connected"
    DECLINED = "declined"
    EXPIRED = "expired"
    DELETED = "deleted"

    @property
    def is_failure(self) -> bool:
        return self in FAILURE_STAGES

    @property
    def is_terminal(self) -> bool:
        return self is Stage.CONNECTED or self in FAILURE_STAGES


PROGRESS_STAGES: tuple[Stage, ...] = (
    Stage.INVITED,
    Stage.SENT,
    Stage.VIEWED,
    Stage.ACCEPTED,
    Stage.SHARE_AGREEMENT,
    Stage.CONNECTION,
    Stage.CONNECTED,
)
FAILURE_STAGES: frozenset[Stage] = frozenset({Stage.DECLINED, Stage.EXPIRED, Stage.DELETED})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ConnectionStatus(_Frozen):
    """Latest known operational status of one fleet connection (``active`` or ``stale``)."""

    connection_id: str
    status: str
    at: datetime | None = None


class ScheduleStatus(_Frozen):
    """Latest known status of one ingestion schedule, with its failed executions."""

    schedule_id: str
    status: str = "active"
    connection_id: str | None = None
    resource: str | None = None
    at: datetime | None = None
    failed_executions: int = 0
    last_failure_at: datetime | None = None


class Attempt(_Frozen):
    """An earlier attempt of an onboarding (the invitation was refreshed after it failed)."""

    number: int
    started_at: datetime | None = None  # None: the invitation's first attempt
    stage: Stage
    stage_times: dict[Stage, datetime] = Field(default_factory=dict)


class Onboarding(_Frozen):
    """One invitation's onboarding, as projected from its events and observations.

    ``stage``, ``stage_times``, ``decline_reason`` and ``connected_at`` describe the current attempt
    (``attempt``, 1 for the first; ``attempt_started_at`` None for the first). An invitation refreshed
    after a decline or an expiry starts a new attempt; the ones before are in ``previous_attempts``.
    """

    invitation_id: str
    fleet_ref: str | None = None
    fleet_id: str | None = None
    stage: Stage
    stage_times: dict[Stage, datetime] = Field(default_factory=dict)
    attempt: int = 1
    attempt_started_at: datetime | None = None
    previous_attempts: tuple[Attempt, ...] = ()
    invitation_status: str | None = None
    decline_reason: str | None = None
    magic_link: str | None = None
    expires_at: datetime | None = None
    share_agreement_id: str | None = None
    share_agreement_status: str | None = None
    share_agreement_scopes: dict[str, Any] = Field(default_factory=dict)
    connection_ids: tuple[str, ...] = ()
    connected_at: datetime | None = None
    connections: dict[str, ConnectionStatus] = Field(default_factory=dict)
    schedules: dict[str, ScheduleStatus] = Field(default_factory=dict)
    redirects: dict[str, datetime] = Field(default_factory=dict)
    dag_id: str | None = None
    run_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_connected(self) -> bool:
        return self.stage is Stage.CONNECTED

    @property
    def is_failed(self) -> bool:
        return self.stage.is_failure

    @property
    def is_terminal(self) -> bool:
        return self.stage.is_terminal


class StoredEvent(_Frozen):
    """One committed webhook delivery, in commit (``seq``) order."""

    seq: int
    event_id: str
    event_name: str
    webhook_id: str | None = None
    request_id: str | None = None
    received_at: datetime
    event_timestamp: datetime | None = None
    fleet_id: str | None = None
    fleet_ref: str | None = None
    invitation_id: str | None = None
    connection_id: str | None = None
    delivery_attempt: int | None = None
    body: str = Field(repr=False)

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The envelope as Catena sent it (parsed from the stored body)."""
        payload: dict[str, Any] = json.loads(self.body)
        return payload

    @property
    def data(self) -> list[dict[str, Any]]:
        return list(self.payload.get("data") or [])


class RecordOutcome(_Frozen):
    """What ``record_event`` did: stored (new, with its ``seq``) or a duplicate of an earlier delivery."""

    stored: bool
    duplicate: bool
    seq: int | None = None


class HourlyCount(_Frozen):
    hour: datetime
    count: int


class WebhookStats(_Frozen):
    """Receiver health for the dashboard."""

    last_event_at: datetime | None = None
    events_total: int = 0
    events_last_hour: int = 0
    events_per_hour: tuple[HourlyCount, ...] = ()
    signature_failures: int = 0
    signature_failures_last_hour: int = 0
    duplicates_dropped: int = 0
    duplicates_last_hour: int = 0
    rejected: int = 0
    held_events: int = 0

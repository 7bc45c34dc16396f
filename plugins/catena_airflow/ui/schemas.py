"""Response models of the dashboard's JSON API (they are its OpenAPI schema).

Only what a data engineer needs to follow a fleet's onboarding: no signing secrets, no Airflow or
Catena tokens, no pre-registration tokens (the inbox never hands those to this layer either).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DagRunLink(BaseModel):
    """An Airflow DAG run, with its UI path (relative to the Airflow UI root) and state when known."""

    dag_id: str
    run_id: str
    url: str = Field(description="Airflow UI path of the run, e.g. /dags/{dag_id}/runs/{run_id}")
    state: str | None = Field(default=None, description="queued, running, success, failed; null when unknown")


class FunnelStage(BaseModel):
    stage: str
    label: str
    count: int = Field(description="Onboardings that reached this stage (or a later one)")
    conversion_from_previous: float | None = Field(description="count / previous stage's count; null if 0")
    conversion_from_start: float | None = Field(description="count / invited count; null if 0")


class Funnel(BaseModel):
    since: datetime | None = Field(description="Only onboardings invited at or after this instant; null: all")
    total: int
    stages: list[FunnelStage]
    in_progress: int = Field(description="Not yet connected and not failed")
    failures: dict[str, int] = Field(description="Onboardings that ended declined, expired or deleted")


StuckReason = Literal["no_progress", "expiring"]


HealthStatus = Literal["ok", "attention", "unknown"]


class FleetHealth(BaseModel):
    """Operational health of a connected fleet: what needs a data engineer's attention."""

    stale_connections: list[str] = Field(default_factory=list)
    deactivated_schedules: list[str] = Field(default_factory=list)
    failed_executions: int = 0
    last_failure_at: datetime | None = None
    status: HealthStatus = Field(default="unknown", description="unknown: no connection or schedule known yet")


class AttemptSummary(BaseModel):
    """One attempt at onboarding a fleet ref: an invitation, or a refresh of it after a failure."""

    invitation_id: str
    number: int = Field(description="Attempt number within the invitation (a refresh after a failure adds one)")
    started_at: datetime | None
    stage: str
    current: bool = Field(description="The attempt this row shows")


class ResourceIngestion(BaseModel):
    """One resource of a fleet, as its loads left it (the ingestion tasks' sync ledger)."""

    resource: str
    rows_loaded: int = Field(description="Rows every load of it wrote (an updated row counts each time)")
    last_rows: int = Field(description="Rows the last successful load wrote")
    last_success_at: datetime | None
    lag_seconds: int | None = Field(description="How far its newest loaded row is behind now; null before any")
    last_error: str | None = Field(description="Why the last load failed; null when it succeeded")


class FleetRow(BaseModel):
    invitation_id: str
    fleet_ref: str | None
    fleet_id: str | None
    stage: str
    stage_entered_at: datetime | None
    seconds_in_stage: int | None
    stage_times: dict[str, datetime] = Field(description="When each stage was reached, by stage name")
    decline_reason: str | None
    expires_at: datetime | None
    magic_link: str | None = Field(description="The fleet's invitation link, to resend it")
    dag_run: DagRunLink | None = Field(description="The onboarding DAG run that invited this fleet")
    health: FleetHealth
    rows_ingested: int | None = Field(
        description="Rows the fleet's loads wrote, every resource (the sync ledger); null while it has no fleet id"
    )
    ingestion: list[ResourceIngestion] = Field(
        default_factory=list, description="Per resource: rows, last successful load, lag and last error"
    )
    stuck: bool
    stuck_reasons: list[StuckReason]
    updated_at: datetime | None
    attempts: list[AttemptSummary] = Field(
        default_factory=list, description="Every attempt at this fleet ref, oldest first (empty: only this one)"
    )


class FleetPage(BaseModel):
    total: int = Field(description="Fleets matching the filters, across all pages")
    limit: int
    offset: int
    stuck_after_seconds: int
    expiry_warning_seconds: int
    stage_counts: dict[str, int] = Field(description="Fleets per current stage, all fleets")
    items: list[FleetRow]


class OperationalAlert(BaseModel):
    kind: Literal["stale_connection", "deactivated_schedule"]
    invitation_id: str
    fleet_ref: str | None
    fleet_id: str | None
    connection_id: str | None = None
    schedule_id: str | None = None
    since: datetime | None = None
    detail: str
    handling_run: DagRunLink | None = Field(
        default=None, description="The Airflow run handling the alert's event, when one is known"
    )


class AlertList(BaseModel):
    total: int
    items: list[OperationalAlert]


class HourlyEvents(BaseModel):
    hour: datetime
    count: int


class WebhookHealth(BaseModel):
    last_event_at: datetime | None
    seconds_since_last_event: int | None
    events_total: int
    events_last_hour: int
    events_per_hour: list[HourlyEvents] = Field(description="Events stored per hour, most recent 24 hours")
    signature_failures: int
    signature_failures_last_hour: int
    duplicates_dropped: int
    duplicates_last_hour: int
    rejected: int
    held_events: int = Field(description="Events waiting for the onboarding they belong to")


class DashboardConfig(BaseModel):
    stuck_after_seconds: int
    expiry_warning_seconds: int
    refresh_seconds: int
    stages: list[str]

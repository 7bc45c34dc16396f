"""The dashboard's JSON API, mounted at ``/catena/api``; every route requires an Airflow login and read
access to the Catena DAGs (``access.py``).

Served by the plugin's FastAPI app in the api-server; its OpenAPI schema is the plugin app's
(``/catena/openapi.json``). The page (``/catena/ui``) renders nothing but what these return.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from catena_airflow.inbox.models import Onboarding, Stage
from catena_airflow.ui.access import REQUIRE_CATENA_DAG_ACCESS
from catena_airflow.ui.alerts import alert_list
from catena_airflow.ui.dag_runs import run_states
from catena_airflow.ui.fleet_view import fleet_row
from catena_airflow.ui.queries import FleetFilter
from catena_airflow.ui.schemas import (
    AlertList,
    DashboardConfig,
    FleetPage,
    FleetRow,
    Funnel,
    HourlyEvents,
    WebhookHealth,
)
from catena_airflow.ui.sources import DashboardSources, dashboard_sources

MAX_PAGE_SIZE = 500
#: Beyond any real page, and small enough for every database's integer (a larger one was a 500 on SQLite).
MAX_OFFSET = 2**31 - 1


class TimeWindow(StrEnum):
    """The last hour, day, week or 30 days, or all time."""

    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    ALL = "all"

    def since(self, now: datetime) -> datetime | None:
        spans = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
        span = spans.get(self.value)
        return None if span is None else now - span


router = APIRouter(prefix="/api", tags=["dashboard"], dependencies=[REQUIRE_CATENA_DAG_ACCESS])
Sources = Annotated[DashboardSources, Depends(dashboard_sources)]
FunnelWindow = Annotated[TimeWindow, Query(description="Only onboardings invited within this window")]
ActivityWindow = Annotated[TimeWindow, Query(description="Only fleets with inbox activity within this window")]


def _now() -> datetime:
    return datetime.now(UTC)


def _rows(sources: DashboardSources, onboardings: list[Onboarding], now: datetime) -> list[FleetRow]:
    runs = run_states((o.dag_id, o.run_id) for o in onboardings if o.dag_id and o.run_id)
    ingested = sources.store.resource_syncs(o.fleet_id for o in onboardings if o.fleet_id)
    by_ref = sources.queries.attempts([o.fleet_ref for o in onboardings if o.fleet_ref])
    return [
        fleet_row(
            o,
            now=now,
            settings=sources.settings,
            run_states=runs,
            rows_ingested=ingested,
            same_ref=by_ref.get(o.fleet_ref or "", []),
        )
        for o in onboardings
    ]


@router.get("/config", response_model=DashboardConfig, summary="Thresholds and refresh interval of the dashboard")
def get_config(sources: Sources) -> DashboardConfig:
    settings = sources.settings
    return DashboardConfig(
        stuck_after_seconds=int(settings.stuck_after.total_seconds()),
        expiry_warning_seconds=int(settings.expiry_warning.total_seconds()),
        refresh_seconds=settings.refresh_seconds,
        stages=[stage.value for stage in Stage],
    )


@router.get("/funnel", response_model=Funnel, summary="Onboarding funnel across all fleets")
def get_funnel(sources: Sources, window: FunnelWindow = TimeWindow.ALL) -> Funnel:
    """How many onboardings reached each stage (invited → … → connected), with conversion rates."""
    return sources.queries.funnel(since=window.since(_now()))


@router.get("/fleets", response_model=FleetPage, summary="Fleets, filtered and paged on the server")
def get_fleets(
    sources: Sources,
    stage: Annotated[Stage | None, Query(description="Only fleets currently at this stage")] = None,
    search: Annotated[
        str | None, Query(max_length=200, description="Substring of fleet ref, fleet id or invitation id")
    ] = None,
    stuck: Annotated[bool, Query(description="Only stuck fleets (no progress, or invitation expiring)")] = False,
    window: ActivityWindow = TimeWindow.ALL,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> FleetPage:
    now = _now()
    flt = FleetFilter(stage=stage, search=search or None, stuck_only=stuck, since=window.since(now))
    total, onboardings = sources.queries.fleets(flt, limit=limit, offset=offset, now=now, settings=sources.settings)
    return FleetPage(
        total=total,
        limit=limit,
        offset=offset,
        stuck_after_seconds=int(sources.settings.stuck_after.total_seconds()),
        expiry_warning_seconds=int(sources.settings.expiry_warning.total_seconds()),
        stage_counts=sources.queries.stage_counts(),
        items=_rows(sources, onboardings, now),
    )


@router.get("/fleets/stuck", response_model=FleetPage, summary="Stuck fleets, most recently updated first")
def get_stuck(sources: Sources, limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100) -> FleetPage:
    return get_fleets(sources, stuck=True, limit=limit)


@router.get("/alerts", response_model=AlertList, summary="Open operational alerts")
def get_alerts(sources: Sources) -> AlertList:
    """Stale connections and deactivated schedules still open, each with the run handling it when known."""
    return alert_list(sources.queries, operations_dag_id=sources.settings.operations_dag_id)


@router.get("/webhooks/health", response_model=WebhookHealth, summary="Webhook receiver health")
def get_webhook_health(sources: Sources) -> WebhookHealth:
    stats = sources.store.webhook_stats()
    now = _now()
    return WebhookHealth(
        last_event_at=stats.last_event_at,
        seconds_since_last_event=None
        if stats.last_event_at is None
        else max(0, int((now - stats.last_event_at).total_seconds())),
        events_total=stats.events_total,
        events_last_hour=stats.events_last_hour,
        events_per_hour=[HourlyEvents(hour=h.hour, count=h.count) for h in stats.events_per_hour],
        signature_failures=stats.signature_failures,
        signature_failures_last_hour=stats.signature_failures_last_hour,
        duplicates_dropped=stats.duplicates_dropped,
        duplicates_last_hour=stats.duplicates_last_hour,
        rejected=stats.rejected,
        held_events=stats.held_events,
    )

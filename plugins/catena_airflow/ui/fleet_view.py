"""How the dashboard judges one onboarding: stage entry, stuck or not, operational health.

Pure functions over the inbox's ``Onboarding`` read model, so the rules are tested without a database.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from catena_airflow.inbox import ResourceSync
from catena_airflow.inbox.models import PROGRESS_STAGES, Onboarding, Stage
from catena_airflow.ui.schemas import (
    AttemptSummary,
    DagRunLink,
    FleetHealth,
    FleetRow,
    HealthStatus,
    ResourceIngestion,
    StuckReason,
)
from catena_airflow.ui.settings import DashboardSettings

# Before acceptance an invitation can still expire; afterwards its expiry no longer matters.
EXPIRABLE_STAGES: frozenset[Stage] = frozenset({Stage.INVITED, Stage.SENT, Stage.VIEWED})
ACTIVE_SCHEDULE_STATUS = "active"
STALE_CONNECTION_STATUS = "stale"


def stage_entered_at(onboarding: Onboarding) -> datetime | None:
    """When the onboarding reached its current stage (its creation, when the inbox has no stage time)."""
    return onboarding.stage_times.get(onboarding.stage) or onboarding.created_at


def invited_at(onboarding: Onboarding) -> datetime:
    """When the invitation was created (its ``invited`` stage time), else when the inbox first saw it."""
    at = onboarding.stage_times.get(Stage.INVITED) or onboarding.created_at or onboarding.updated_at
    if at is None:
        raise ValueError(f"onboarding {onboarding.invitation_id} has no time at all")
    return at


def stuck_reasons(onboarding: Onboarding, *, now: datetime, settings: DashboardSettings) -> list[StuckReason]:
    """Why an unfinished onboarding needs a nudge: no progress for too long, or an invitation about to expire."""
    if onboarding.stage.is_terminal:
        return []
    reasons: list[StuckReason] = []
    entered = stage_entered_at(onboarding)
    if entered is not None and now - entered >= settings.stuck_after:
        reasons.append("no_progress")
    expires_at = onboarding.expires_at
    if onboarding.stage in EXPIRABLE_STAGES and expires_at is not None and expires_at - now <= settings.expiry_warning:
        reasons.append("expiring")
    return reasons


def reached_stages(onboarding: Onboarding) -> set[Stage]:
    """Progress stages reached, closing gaps (a fleet that connected also accepted, even if no event said so)."""
    reached = {stage for stage in onboarding.stage_times if stage in PROGRESS_STAGES}
    reached.add(Stage.INVITED)
    if onboarding.stage in PROGRESS_STAGES:
        reached.add(onboarding.stage)
    furthest = max(PROGRESS_STAGES.index(stage) for stage in reached)
    return set(PROGRESS_STAGES[: furthest + 1])


def fleet_health(onboarding: Onboarding) -> FleetHealth:
    stale = sorted(cid for cid, conn in onboarding.connections.items() if conn.status == STALE_CONNECTION_STATUS)
    deactivated = sorted(sid for sid, sched in onboarding.schedules.items() if sched.status != ACTIVE_SCHEDULE_STATUS)
    failed = sum(sched.failed_executions for sched in onboarding.schedules.values())
    failure_times = [s.last_failure_at for s in onboarding.schedules.values() if s.last_failure_at is not None]
    status: HealthStatus
    if stale or deactivated or failed:
        status = "attention"
    elif onboarding.connections or onboarding.schedules:
        status = "ok"
    else:
        status = "unknown"
    return FleetHealth(
        stale_connections=stale,
        deactivated_schedules=deactivated,
        failed_executions=failed,
        last_failure_at=max(failure_times, default=None),
        status=status,
    )


def dag_run_path(dag_id: str, run_id: str) -> str:
    """The Airflow 3 UI route of a DAG run (relative to the UI root)."""
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def attempts_of(onboarding: Onboarding, same_ref: list[Onboarding]) -> list[AttemptSummary]:
    """Every attempt at the onboarding's fleet ref (its invitations, and refreshes after failures),
    oldest first; empty when this is the only one."""
    out: list[AttemptSummary] = []
    for other in same_ref or [onboarding]:
        for attempt in other.previous_attempts:
            out.append(
                AttemptSummary(
                    invitation_id=other.invitation_id,
                    number=attempt.number,
                    started_at=attempt.started_at or attempt.stage_times.get(Stage.INVITED),
                    stage=attempt.stage.value,
                    current=False,
                )
            )
        out.append(
            AttemptSummary(
                invitation_id=other.invitation_id,
                number=other.attempt,
                started_at=other.attempt_started_at or other.stage_times.get(Stage.INVITED) or other.created_at,
                stage=other.stage.value,
                current=other.invitation_id == onboarding.invitation_id,
            )
        )
    return out if len(out) > 1 else []


def resource_ingestion(sync: ResourceSync, now: datetime) -> ResourceIngestion:
    lag = sync.lag(now)
    return ResourceIngestion(
        resource=sync.resource,
        rows_loaded=sync.rows_loaded,
        last_rows=sync.last_rows,
        last_success_at=sync.last_success_at,
        lag_seconds=None if lag is None else max(0, int(lag.total_seconds())),
        last_error=sync.last_error,
    )


def fleet_row(
    onboarding: Onboarding,
    *,
    now: datetime,
    settings: DashboardSettings,
    run_states: dict[tuple[str, str], str],
    rows_ingested: dict[str, list[ResourceSync]],
    same_ref: list[Onboarding] | None = None,
) -> FleetRow:
    entered = stage_entered_at(onboarding)
    reasons = stuck_reasons(onboarding, now=now, settings=settings)
    dag_run = None
    if onboarding.dag_id and onboarding.run_id:
        dag_run = DagRunLink(
            dag_id=onboarding.dag_id,
            run_id=onboarding.run_id,
            url=dag_run_path(onboarding.dag_id, onboarding.run_id),
            state=run_states.get((onboarding.dag_id, onboarding.run_id)),
        )
    ingested, ingestion = None, []
    if onboarding.fleet_id:
        syncs = rows_ingested.get(onboarding.fleet_id, [])
        ingested = sum(sync.rows_loaded for sync in syncs)
        ingestion = [resource_ingestion(sync, now) for sync in syncs]
    return FleetRow(
        invitation_id=onboarding.invitation_id,
        fleet_ref=onboarding.fleet_ref,
        fleet_id=onboarding.fleet_id,
        stage=onboarding.stage.value,
        stage_entered_at=entered,
        seconds_in_stage=None if entered is None else max(0, int((now - entered).total_seconds())),
        stage_times={stage.value: at for stage, at in sorted(onboarding.stage_times.items(), key=lambda i: i[1])},
        decline_reason=onboarding.decline_reason,
        expires_at=onboarding.expires_at,
        magic_link=onboarding.magic_link,
        dag_run=dag_run,
        health=fleet_health(onboarding),
        rows_ingested=ingested,
        ingestion=ingestion,
        stuck=bool(reasons),
        stuck_reasons=reasons,
        updated_at=onboarding.updated_at,
        attempts=attempts_of(onboarding, same_ref or []),
    )

"""Open operational alerts: stale connections and deactivated schedules, with the run handling each.

An alert stems from the latest inbox event of its kind for its connection; its handling run is the
first run of the operations DAG after that event arrived (see ``dag_runs.handling_runs``).
"""

from __future__ import annotations

from typing import TypedDict

from catena_airflow.client.events import CONNECTION_STALED, SCHEDULE_DEACTIVATED
from catena_airflow.inbox.models import Onboarding
from catena_airflow.ui.dag_runs import InboxEventRef, handling_runs
from catena_airflow.ui.fleet_view import ACTIVE_SCHEDULE_STATUS, STALE_CONNECTION_STATUS, dag_run_path
from catena_airflow.ui.queries import DashboardQueries
from catena_airflow.ui.schemas import AlertList, DagRunLink, OperationalAlert


class _FleetFields(TypedDict):
    invitation_id: str
    fleet_ref: str | None
    fleet_id: str | None


def _fleet(onboarding: Onboarding) -> _FleetFields:
    return {
        "invitation_id": onboarding.invitation_id,
        "fleet_ref": onboarding.fleet_ref,
        "fleet_id": onboarding.fleet_id,
    }


def open_alerts(onboardings: list[Onboarding]) -> list[OperationalAlert]:
    """One alert per stale connection and per schedule that is no longer active, fleet by fleet."""
    alerts: list[OperationalAlert] = []
    for onboarding in onboardings:
        for conn in sorted(onboarding.connections.values(), key=lambda c: c.connection_id):
            if conn.status == STALE_CONNECTION_STATUS:
                alerts.append(
                    OperationalAlert(
                        kind="stale_connection",
                        connection_id=conn.connection_id,
                        since=conn.at,
                        detail="Connection is stale: its telematics provider stopped delivering data",
                        **_fleet(onboarding),
                    )
                )
        for sched in sorted(onboarding.schedules.values(), key=lambda s: s.schedule_id):
            if sched.status != ACTIVE_SCHEDULE_STATUS:
                what = f"{sched.resource} schedule" if sched.resource else "Schedule"
                alerts.append(
                    OperationalAlert(
                        kind="deactivated_schedule",
                        connection_id=sched.connection_id,
                        schedule_id=sched.schedule_id,
                        since=sched.at,
                        detail=f"{what} is {sched.status}: ingestion stopped",
                        **_fleet(onboarding),
                    )
                )
    return alerts


def alert_list(queries: DashboardQueries, *, operations_dag_id: str) -> AlertList:
    alerts = open_alerts(queries.with_operational_issues())
    origins: dict[int, InboxEventRef] = {}
    for kind, event_name in (("stale_connection", CONNECTION_STALED), ("deactivated_schedule", SCHEDULE_DEACTIVATED)):
        of_kind = [(i, a) for i, a in enumerate(alerts) if a.kind == kind and a.connection_id]
        latest = queries.latest_events(event_name, [a.connection_id for _, a in of_kind if a.connection_id])
        origins.update({i: latest[a.connection_id] for i, a in of_kind if a.connection_id in latest})
    runs = handling_runs(operations_dag_id, list(origins.values()))
    for i, origin in origins.items():
        if run := runs.get(origin.event_id):
            alerts[i] = alerts[i].model_copy(
                update={
                    "handling_run": DagRunLink(
                        dag_id=run.dag_id, run_id=run.run_id, url=dag_run_path(run.dag_id, run.run_id), state=run.state
                    )
                }
            )
    return AlertList(total=len(alerts), items=alerts)

"""React to operational webhooks: stale connections, failing executions, deactivated schedules.

Scheduled on the operational assets (their watchers tail the inbox), and every 15 minutes to notice
fleets that re-authenticated (Catena sends no event for that). Each asset event is only a
doorbell: every handler reads the inbox events it has not handled yet, so runs may coalesce and a
manual run does the same work. Alerts go through a notifier: the ``notifier`` param, else the
Airflow Variable ``catena_notifier`` (a dotted ``BaseNotifier`` path), else the task log.

A deactivated schedule is reactivated only once its failures' cause has passed (its connection was
stale and is active again); otherwise its resource's ingestion pauses for the fleet and a person
decides: trigger this DAG with ``{"reactivate_schedule_ids": ["<schedule id>"]}``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param

from catena_airflow.operators.operations import (
    CatenaHandleConnectionEventsOperator,
    CatenaHandleExecutionFailuresOperator,
    CatenaReactivateSchedulesOperator,
)
from catena_airflow.workflows.operations import CONNECTION_EVENTS, EXECUTION_FAILURES, SCHEDULE_DEACTIVATIONS

with DAG(
    dag_id="catena_fleet_operations",
    description="Handle connection.staled, execution.failed and schedule.deactivated from the inbox",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
        assets=(CONNECTION_EVENTS | EXECUTION_FAILURES | SCHEDULE_DEACTIVATIONS),
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "notifier": Param(None, type=["string", "null"], title="Notifier class (dotted path of a BaseNotifier)"),
        "notifier_kwargs": Param({}, type="object", title="Notifier arguments"),
        "reactivate_schedule_ids": Param(
            [],
            type="array",
            items={"type": "string", "minLength": 1},
            title="Reactivate these deactivated schedules",
            description="Schedules Catena deactivated that were left for a person to decide (see their alert).",
        ),
    },
    render_template_as_native_obj=True,
    tags=["catena", "operations"],
    doc_md=__doc__,
):
    notifier, notifier_kwargs = "{{ params.notifier }}", "{{ params.notifier_kwargs }}"
    CatenaHandleConnectionEventsOperator(
        task_id="handle_connection_events", notifier=notifier, notifier_kwargs=notifier_kwargs
    )
    CatenaHandleExecutionFailuresOperator(
        task_id="handle_execution_failures", notifier=notifier, notifier_kwargs=notifier_kwargs
    )
    CatenaReactivateSchedulesOperator(
        task_id="reactivate_schedules",
        reactivate="{{ params.reactivate_schedule_ids }}",
        notifier=notifier,
        notifier_kwargs=notifier_kwargs,
    )

"""What the system did with each demo fleet: inbox stage, DAG run state, rows ingested, operations handled."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from catena_airflow.client.events import OPERATIONAL_EVENTS as CATENA_OPERATIONAL_EVENTS
from catena_airflow.inbox import InboxStore, Onboarding
from catena_airflow.operators.operations import (
    CatenaHandleConnectionEventsOperator,
    CatenaHandleExecutionFailuresOperator,
    CatenaReactivateSchedulesOperator,
    cursor_name_of,
)
from devstack.rest import AirflowRest, RunState
from devstack.scenarios import BULK_ONBOARDING_DAG, ONBOARDING_DAG, OPERATIONS_DAG, FleetScenario


@dataclass
class FleetReport:
    scenario: FleetScenario
    dag_id: str
    run_id: str
    run_state: str = "queued"
    onboarding: Onboarding | None = None
    rows: int = 0
    operations: int = 0
    handled: Counter[str] = field(default_factory=Counter)  # operational events handled, by name
    woken_by: str = "-"  # the sensor's result "source": webhook, inbox (already connected) or reconciliation
    failure_log: str = ""  # the failed task's log, for runs expected to fail
    problems: list[str] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return self.onboarding.stage.value if self.onboarding else "-"

    @property
    def fleet_id(self) -> str | None:
        return self.onboarding.fleet_id if self.onboarding else None

    @property
    def operations_done(self) -> bool:
        return all(self.handled[name] for name in self.scenario.operations)


def trigger_onboardings(rest: AirflowRest, fleets: Iterable[FleetScenario]) -> dict[str, FleetReport]:
    """One onboarding run per fleet, triggered over the REST API; the reports by scenario kind."""
    return {
        fleet.kind: FleetReport(
            scenario=fleet, dag_id=ONBOARDING_DAG, run_id=rest.trigger(ONBOARDING_DAG, fleet.conf())
        )
        for fleet in fleets
    }


def trigger_bulk_onboarding(rest: AirflowRest, fleet_refs: Iterable[str]) -> str:
    """One bulk onboarding run for ``fleet_refs``; its run id."""
    return rest.trigger(BULK_ONBOARDING_DAG, {"fleets": [{"fleet_ref": ref} for ref in fleet_refs]})


def find_onboarding(inbox: InboxStore, fleet_ref: str) -> Onboarding | None:
    """The newest onboarding of ``fleet_ref`` (the demo gives each fleet a ref of its own)."""
    matches = [row for row in inbox.list_onboardings(search=fleet_ref, limit=20) if row.fleet_ref == fleet_ref]
    return matches[0] if matches else None


def refresh_stages(reports: Iterable[FleetReport], inbox: InboxStore) -> None:
    for report in reports:
        report.onboarding = find_onboarding(inbox, report.scenario.fleet_ref) or report.onboarding


def apply_run_states(reports: Iterable[FleetReport], states: dict[tuple[str, str], RunState]) -> None:
    for report in reports:
        state = states.get((report.dag_id, report.run_id))
        if state is not None:
            report.run_state = state.state


def count_rows(reports: Iterable[FleetReport], inbox: InboxStore) -> None:
    """Per fleet, the rows its loads wrote (the inbox's sync ledger)."""
    for report in reports:
        if report.fleet_id:
            report.rows = inbox.rows_loaded(report.fleet_id)


# The operational events each handler of the operations DAG consumes, and the cursor it keeps in the inbox.
OPERATIONAL_EVENTS = {
    name: cursor_name_of(handler)
    for handler in (
        CatenaHandleConnectionEventsOperator,
        CatenaHandleExecutionFailuresOperator,
        CatenaReactivateSchedulesOperator,
    )
    for name in handler.event_names
    if name in CATENA_OPERATIONAL_EVENTS
}


def count_operations(reports: Iterable[FleetReport], inbox: InboxStore) -> None:
    """Per fleet, the operational events the operations DAG has handled (its cursor passed them)."""
    cursors = {name: inbox.watcher_cursor(cursor) or 0 for name, cursor in OPERATIONAL_EVENTS.items()}
    handled_events = [
        event
        for event in inbox.events_after(0, list(OPERATIONAL_EVENTS), limit=10_000)
        if event.seq <= cursors[event.event_name]
    ]
    for report in reports:
        if report.onboarding is None:
            continue
        # Some records (schedule.deactivated) name no fleet; the inbox correlates them to the invitation.
        ours = {report.onboarding.invitation_id, report.fleet_id} - {None}
        report.handled = Counter(
            event.event_name for event in handled_events if {event.invitation_id, event.fleet_id} & ours
        )
        report.operations = sum(report.handled.values())


def operations_settled(reports: Iterable[FleetReport], rest: AirflowRest, inbox: InboxStore) -> bool:
    """Whether the operations DAG has handled every operational event the fleets' scenarios expect and has
    no run in progress (each report's ``handled`` is updated on the way)."""
    operational = [report for report in reports if report.scenario.operations]
    count_operations(operational, inbox)
    busy = any(not run.finished for run in rest.list_runs(OPERATIONS_DAG))
    return not busy and all(report.operations_done for report in operational)


def deferral_processed(
    scheduler_log: str, dag_id: str, run_id: str, task_id: str = "wait_for_fleet", map_index: int = -1
) -> bool:
    """Whether the scheduler has taken the executor's report of the task's try that deferred.

    Until it has, a sensor resumed at once can be failed by Airflow 3.3.2's scheduler ("finished with state
    success, but the task instance's state attribute is running"; docs/architecture.md): a test's fleet
    acts only once this holds. The line is the scheduler's "Received executor event with state success for
    task instance TaskInstanceKey(...)". Not its later "TaskInstance Finished" line: on PostgreSQL the
    scheduler reads the task instance with SKIP LOCKED and drops the event, unlogged, when another process
    holds the row. Either way the event is gone once received, and the scheduler (one process) queues the
    resumed task only in a later loop, so the race cannot happen any more.
    """
    key = (
        f"TaskInstanceKey(dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}', "
        f"try_number=__TRY__, map_index={map_index})"
    )
    pattern = re.escape("Received executor event with state success for task instance " + key)
    return re.search(pattern.replace("__TRY__", r"\d+"), scheduler_log) is not None


def check(report: FleetReport) -> list[str]:
    """Every way the fleet's outcome differs from its scenario's expectation (empty: as expected)."""
    expected = report.scenario
    problems = []
    if report.run_state != expected.run_state:
        problems.append(f"run {report.run_state}, expected {expected.run_state}")
    if report.onboarding is None:
        problems.append("no onboarding in the inbox")
    elif report.onboarding.stage is not expected.stage:
        problems.append(f"stage {report.stage}, expected {expected.stage.value}")
    if expected.ingests and report.rows == 0:
        problems.append("no rows ingested")
    missing = [name for name in expected.operations if not report.handled[name]]
    if missing:
        problems.append(f"the operations DAG did not handle {', '.join(missing)}")
    if expected.run_state == "failed":
        reason = report.onboarding.decline_reason if report.onboarding else None
        if not reason:
            problems.append("no decline reason in the inbox")
        elif reason not in report.failure_log:
            problems.append("the decline reason is not in the failed task's log")
    report.problems = problems
    return problems

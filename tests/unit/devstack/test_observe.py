from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from catena_airflow.client.events import WebhookEnvelope
from catena_airflow.inbox import InboxStore, Onboarding, Stage
from devstack.observe import FleetReport, check, count_operations, deferral_processed
from devstack.progress import summary
from devstack.scenarios import KINDS, demo_fleets

REASON = "not ready to share data yet"


def _report(kind: str, *, stage: Stage, run_state: str, rows: int = 0, handled: Counter | None = None, **fields):
    scenario = next(fleet for fleet in demo_fleets("t1") if fleet.kind == kind)
    onboarding = Onboarding(
        invitation_id=f"inv-{kind}",
        fleet_ref=scenario.fleet_ref,
        fleet_id=f"fleet-{kind}",
        stage=stage,
        stage_times={Stage.INVITED: datetime(2026, 11, 27, 12, 0, tzinfo=UTC), stage: datetime.now(UTC)},
        decline_reason=REASON if stage is Stage.DECLINED else None,
    )
    report = FleetReport(scenario=scenario, dag_id="d", run_id=f"r-{kind}", run_state=run_state, onboarding=onboarding)
    report.rows = rows
    report.handled = handled or Counter()
    for name, value in fields.items():
        setattr(report, name, value)
    return report


def test_one_fleet_per_scenario_with_prefixed_unique_refs():
    fleets = demo_fleets("abc")
    assert [fleet.kind for fleet in fleets] == list(KINDS)
    assert all(fleet.fleet_ref == f"{fleet.kind}-abc" for fleet in fleets)
    assert demo_fleets()[0].fleet_ref != demo_fleets()[0].fleet_ref


def test_expected_outcomes_pass():
    reports = [
        _report("happy", stage=Stage.CONNECTED, run_state="success", rows=10),
        _report("decline", stage=Stage.DECLINED, run_state="failed", failure_log=f"declined: {REASON}"),
        _report("stale", stage=Stage.CONNECTED, run_state="success", handled=Counter({"connection.staled": 1})),
        _report(
            "failing",
            stage=Stage.CONNECTED,
            run_state="success",
            rows=3,
            handled=Counter({"execution.failed": 3, "schedule.deactivated": 1}),
        ),
    ]
    assert [check(report) for report in reports] == [[], [], [], []]
    assert "UNEXPECTED" not in summary(reports)


@pytest.mark.parametrize(
    ("report", "problem"),
    [
        (lambda: _report("happy", stage=Stage.CONNECTED, run_state="failed", rows=1), "run failed, expected success"),
        (lambda: _report("happy", stage=Stage.CONNECTED, run_state="success"), "no rows ingested"),
        (lambda: _report("reuse", stage=Stage.EXPIRED, run_state="success", rows=1), "stage expired"),
        (
            lambda: _report("decline", stage=Stage.DECLINED, run_state="failed", failure_log="no reason here"),
            "decline reason is not in the failed task's log",
        ),
        (
            lambda: _report(
                "failing",
                stage=Stage.CONNECTED,
                run_state="success",
                rows=1,
                handled=Counter({"execution.failed": 3}),
            ),
            "did not handle schedule.deactivated",
        ),
    ],
)
def test_each_unexpected_outcome_is_named(report, problem):
    report = report()
    problems = check(report)
    assert any(problem in text for text in problems), problems
    assert "UNEXPECTED" in summary([report])


def _envelope(event_id: str, event_name: str, record: dict) -> dict:
    return {
        "version": "1.0",
        "event_name": event_name,
        "data": [record],
        "webhook_id": "wh-1",
        "timestamp": "2026-11-27T12:00:00Z",
        "id": event_id,
        "delivery_attempt": 1,
    }


def test_operations_count_only_events_behind_the_handlers_cursor(sqlite_url):
    """A real inbox (SQLite): what the operations DAG's cursors passed counts."""
    inbox = InboxStore(sqlite_url)
    inbox.migrate()
    try:
        records = [
            ("e1", "connection.staled", {"id": "c1", "fleet_id": "fleet-stale", "status": "stale"}),
            ("e2", "execution.failed", {"id": "x1", "fleet_id": "fleet-stale", "schedule_id": "s1"}),
        ]
        seqs = []
        for event_id, name, record in records:
            envelope = WebhookEnvelope.model_validate(_envelope(event_id, name, record))
            seqs.append(inbox.record_event(envelope, envelope.model_dump_json()).seq)
        inbox.advance_watcher_cursor("operations:CatenaHandleConnectionEventsOperator", seqs[0])

        report = _report("stale", stage=Stage.CONNECTED, run_state="success")
        count_operations([report], inbox)

        assert report.handled == Counter({"connection.staled": 1})  # execution.failed: cursor not there yet
        assert report.operations == 1
    finally:
        inbox.dispose()


_RECEIVED = (
    "scheduler  | 2026-12-07T03:21:00.643516Z [info     ] Received executor event with state {state} for task"
    " instance TaskInstanceKey(dag_id='catena_fleet_onboarding', task_id='wait_for_fleet', run_id='manual__abc',"
    " try_number={try_number}, map_index={map_index}) [airflow.jobs.scheduler_job_runner.SchedulerJobRunner]\n"
)


def test_a_deferral_counts_as_processed_once_the_scheduler_received_the_executors_success():
    log = "scheduler  | something else\n" + _RECEIVED.format(state="success", try_number=2, map_index=-1)
    assert deferral_processed(log, "catena_fleet_onboarding", "manual__abc")
    assert not deferral_processed(log, "catena_fleet_onboarding", "manual__abcd")
    assert not deferral_processed(log, "catena_fleet_onboarding", "manual__abc", map_index=0)
    assert not deferral_processed(log, "catena_fleet_onboarding", "manual__abc", task_id="ingest_fleet")
    for state in ("queued", "failed"):
        other = _RECEIVED.format(state=state, try_number=1, map_index=-1)
        assert not deferral_processed(other, "catena_fleet_onboarding", "manual__abc")

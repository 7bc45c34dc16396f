"""The whole system in `airflow standalone`, driven over Airflow's REST API with apache-airflow-client.

One stack for the module (a 2-core machine cannot afford one per test): the Catena sandbox, and
`airflow standalone` with the plugin from its entry point, the receiver in the api-server and the
inbox on PostgreSQL. The module fixture runs catena_setup, then onboards one fleet per sandbox scenario
plus a `manual-` fleet that only accepts once its sensor has deferred (so a webhook must wake it),
and a bulk run; each test then checks one outcome.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from catena_airflow.inbox import InboxStore, Stage
from devstack.observe import (
    FleetReport,
    count_rows,
    deferral_processed,
    find_onboarding,
    operations_settled,
    refresh_stages,
    trigger_bulk_onboarding,
    trigger_onboardings,
)
from devstack.processes import free_port
from devstack.rest import AirflowRest
from devstack.sandbox import Sandbox, SandboxSettings
from devstack.scenarios import (
    BULK_ONBOARDING_DAG,
    ONBOARDING_DAG,
    OPERATIONS_DAG,
    SETUP_DAG,
    demo_fleets,
)
from devstack.standalone import ADMIN_USER, AirflowStandalone, CatenaConnection, StandaloneSettings
from tests.e2e.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.postgres]

DAG_IDS = (SETUP_DAG, ONBOARDING_DAG, BULK_ONBOARDING_DAG, OPERATIONS_DAG)
SPEED = 30  # sandbox scenario steps 0.1 s apart
RUN_TIMEOUT = 180


@dataclass
class Stack:
    airflow: AirflowStandalone
    sandbox: Sandbox
    rest: AirflowRest
    inbox: InboxStore


@dataclass
class Outcomes:
    setup_state: str
    reports: dict[str, FleetReport]  # by scenario kind, plus "manual"
    bulk_run_id: str
    bulk_state: str
    bulk_refs: list[str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres_database_factory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("standalone")
    sandbox = Sandbox(SandboxSettings(port=free_port(), speed=SPEED, log_path=home / "logs" / "sandbox.log"))
    settings = StandaloneSettings(
        airflow_home=home,
        api_port=free_port(),
        catena=CatenaConnection.for_sandbox(sandbox.base_url),
        inbox_url=postgres_database_factory(),
    )
    inbox = InboxStore(settings.resolved_inbox_url)
    try:
        # Airflow first, so the sandbox starts while it boots; on exit the sandbox stops first, closing its
        # delivery connections, which would otherwise hold up the api-server's graceful shutdown.
        with AirflowStandalone(settings, stop_timeout=10) as airflow, sandbox:
            try:
                airflow.wait_until_ready(DAG_IDS, timeout=300)
            except Exception as exc:
                pytest.fail(f"airflow standalone did not come up: {exc}")
            with AirflowRest(airflow.base_url, ADMIN_USER, settings.admin_password) as rest:
                yield Stack(airflow=airflow, sandbox=sandbox, rest=rest, inbox=inbox)
    finally:
        inbox.dispose()


def _wait_for_task_state(rest: AirflowRest, dag_id: str, run_id: str, task_id: str, state: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        states = {task.task_id: task.state for task in rest.task_states(dag_id, run_id)}
        if states.get(task_id) == state:
            return
        if rest.run_state(dag_id, run_id).finished:
            break
        time.sleep(1)
    pytest.fail(f"{dag_id}/{run_id}: {task_id} never reached {state} (tasks: {states})")


def why_failed(stack: Stack, dag_id: str, run_id: str) -> str:
    """Task states, failed tasks' logs and the scheduler's state-mismatch lines of a run, for a failure message."""
    tasks = stack.rest.task_states(dag_id, run_id)
    states = {f"{t.task_id}[{t.map_index}]": f"{t.state} (try {t.try_number})" for t in tasks}
    log = stack.airflow.log_path.read_text(errors="replace")
    mismatches = [line for line in log.splitlines() if run_id in line and "state attribute is" in line]
    return f"tasks: {states}\nscheduler: {mismatches}\n{stack.rest.failed_task_logs(dag_id, run_id)[-4000:]}"


def linked_by_events(sandbox: Sandbox, base: str) -> str:
    """A fleet ref for which the sandbox's ``invitation.accepted`` names the fleet.

    With the spec's other choice (``fleet_id`` null, and the share agreement's ``fleet_ref`` null too) only
    the waiting sensor's REST probe can link the fleet, and may end the wait itself (tested in
    tests/integration/dags/test_catena_as_published.py); this test is about a webhook waking the sensor.
    """
    for n in range(100):
        ref = f"{base}-{n}" if n else base
        knobs = requests.get(f"{sandbox.base_url}/sandbox/variations", params={"fleet_ref": ref}, timeout=10).json()
        if knobs["invitation_fleet_id"] == "set":
            return ref
    raise AssertionError(f"no fleet ref {base}-N meets invitation_fleet_id=set")


@pytest.fixture(scope="module")
def outcomes(stack: Stack) -> Outcomes:
    rest = stack.rest
    setup_run = rest.trigger(SETUP_DAG, {"receiver_url": stack.airflow.settings.receiver_url})
    setup_state = rest.wait_for_runs([(SETUP_DAG, setup_run)], timeout=RUN_TIMEOUT)[(SETUP_DAG, setup_run)].state
    assert setup_state == "success", rest.failed_task_logs(SETUP_DAG, setup_run)

    fleets = demo_fleets()
    # A fleet that only acts when told: it accepts once its sensor has deferred to the triggerer.
    manual_ref = linked_by_events(stack.sandbox, f"manual-{fleets[0].fleet_ref.split('-', 1)[1]}")
    manual_run = rest.trigger(ONBOARDING_DAG, {"fleet_ref": manual_ref, "fleet_name": "Manual Freight"})
    reports = trigger_onboardings(rest, fleets)
    bulk_refs = [f"happy-bulk1-{manual_ref}", f"happy-bulk2-{manual_ref}"]
    bulk_run = trigger_bulk_onboarding(rest, bulk_refs)

    _wait_for_task_state(rest, ONBOARDING_DAG, manual_run, "wait_for_fleet", "deferred")
    # Airflow 3.3.2 race (scheduler_job_runner._process_executor_events): if the trigger resumes the
    # task and it is RUNNING again before the scheduler has processed the executor's "success" for the
    # process that deferred, the scheduler marks the task FAILED. Real fleets take hours; here the
    # fleet would connect within a second, so it accepts only once the scheduler has seen the deferral.
    wait_until(
        lambda: deferral_processed(stack.airflow.log_path.read_text(errors="replace"), ONBOARDING_DAG, manual_run),
        "the scheduler to process the manual fleet's deferral",
        timeout=RUN_TIMEOUT,
        interval=0.5,
    )
    manual = find_onboarding(stack.inbox, manual_ref)
    assert manual is not None, "the manual fleet's invitation is not in the inbox"
    accepted = requests.post(f"{stack.sandbox.base_url}/sandbox/invitations/{manual.invitation_id}/accept", json={})
    assert accepted.status_code == 200, accepted.text

    runs = [(ONBOARDING_DAG, report.run_id) for report in reports.values()]
    states = rest.wait_for_runs([*runs, (ONBOARDING_DAG, manual_run), (BULK_ONBOARDING_DAG, bulk_run)], timeout=300)
    for report in reports.values():
        report.run_state = states[(ONBOARDING_DAG, report.run_id)].state
    manual_report = FleetReport(
        scenario=fleets[0],
        dag_id=ONBOARDING_DAG,
        run_id=manual_run,
        run_state=states[(ONBOARDING_DAG, manual_run)].state,
    )
    refresh_stages(reports.values(), stack.inbox)

    wait_until(
        lambda: operations_settled(reports.values(), rest, stack.inbox),
        "the operations DAG to handle the stale and failing fleets",
        timeout=RUN_TIMEOUT,
    )
    count_rows(reports.values(), stack.inbox)
    return Outcomes(
        setup_state=setup_state,
        reports={**reports, "manual": manual_report},
        bulk_run_id=bulk_run,
        bulk_state=states[(BULK_ONBOARDING_DAG, bulk_run)].state,
        bulk_refs=bulk_refs,
    )


def test_setup_subscribed_the_receiver_and_stored_the_secrets(stack, outcomes):
    assert outcomes.setup_state == "success"
    subscriptions = stack.inbox.subscriptions()
    assert subscriptions, "catena_setup stored no subscription secrets in the inbox"
    assert {row["url"] for row in subscriptions} == {stack.airflow.settings.receiver_url}


def test_the_sensor_was_woken_by_a_webhook(stack, outcomes):
    report = outcomes.reports["manual"]
    assert report.run_state == "success"
    result = stack.rest.xcom(ONBOARDING_DAG, report.run_id, "wait_for_fleet")
    assert result["source"] == "webhook"
    log = stack.rest.task_log(ONBOARDING_DAG, report.run_id, "wait_for_fleet")
    assert "Deferring until the fleet is connected" in log


@pytest.mark.parametrize("kind", ["happy", "reuse", "stale", "failing"])
def test_accepting_fleets_are_connected(stack, outcomes, kind):
    report = outcomes.reports[kind]
    assert report.run_state == "success", why_failed(stack, ONBOARDING_DAG, report.run_id)
    assert report.onboarding is not None and report.onboarding.stage is Stage.CONNECTED


@pytest.mark.parametrize("kind", ["happy", "reuse", "failing"])
def test_ingested_rows_are_in_the_sync_ledger(outcomes, kind):
    assert outcomes.reports[kind].rows > 0


def test_the_declined_run_failed_with_the_reason_in_its_log(stack, outcomes):
    report = outcomes.reports["decline"]
    assert report.run_state == "failed"
    assert report.onboarding is not None and report.onboarding.stage is Stage.DECLINED
    reason = report.onboarding.decline_reason
    assert reason
    tasks = {task.task_id: task.state for task in stack.rest.task_states(ONBOARDING_DAG, report.run_id)}
    assert tasks["wait_for_fleet"] == "failed"
    assert tasks["ingest_fleet"] == "upstream_failed"
    assert reason in stack.rest.failed_task_logs(ONBOARDING_DAG, report.run_id)


def test_operations_handled_the_stale_connection(outcomes):
    assert outcomes.reports["stale"].handled["connection.staled"] >= 1


def test_operations_hold_the_failing_fleets_schedule_until_a_person_reactivates_it(stack, outcomes):
    """Its executions fail with the connection active: no cause that passed, so a person decides."""
    report = outcomes.reports["failing"]
    assert report.handled["execution.failed"] >= 1
    assert report.handled["schedule.deactivated"] >= 1
    # The runs the operational events triggered (the DAG's 15-minute time schedule may add others).
    event_runs = [run for run in stack.rest.list_runs(OPERATIONS_DAG) if run.run_id.startswith("asset_triggered__")]
    assert event_runs and all(run.state == "success" for run in event_runs)
    # Ask Catena (the sandbox) itself: the deactivated schedule was left inactive...
    detail_url = f"{stack.sandbox.base_url}/sandbox/invitations/{report.onboarding.invitation_id}"
    held = [s["id"] for s in requests.get(detail_url).json()["sandbox"]["schedules"] if s["status"] != "active"]
    assert held
    # ...until a person says so, over the REST API, with the DAG param the alert names.
    decided = stack.rest.trigger(OPERATIONS_DAG, {"reactivate_schedule_ids": held})
    state = stack.rest.wait_for_runs([(OPERATIONS_DAG, decided)], timeout=RUN_TIMEOUT)[(OPERATIONS_DAG, decided)].state
    assert state == "success", stack.rest.failed_task_logs(OPERATIONS_DAG, decided)
    assert {s["status"] for s in requests.get(detail_url).json()["sandbox"]["schedules"]} == {"active"}


def test_a_bulk_run_onboards_each_fleet(stack, outcomes):
    assert outcomes.bulk_state == "success", why_failed(stack, BULK_ONBOARDING_DAG, outcomes.bulk_run_id)
    for ref in outcomes.bulk_refs:
        onboarding = find_onboarding(stack.inbox, ref)
        assert onboarding is not None and onboarding.stage is Stage.CONNECTED
        assert onboarding.run_id == outcomes.bulk_run_id

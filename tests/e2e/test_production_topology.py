"""docker-compose.yaml's production topology as native processes, onboarding fleets through two crashes.

What `docker compose --profile sandbox up` runs (devstack.topology, every component's environment read
from docker-compose.yaml): CeleryExecutor with Redis (a database of this run's own) and the result
backend on PostgreSQL, FAB auth (the compose user, created with FAB's CLI by airflow-init), the
api-server with the webhook receiver, the scheduler, the dag-processor, TWO triggerers and TWO Celery
workers, the inbox (operations state included) and the warehouse on PostgreSQL (throw-away databases), and
the sandbox.

Over the REST API (apache-airflow-client, a FAB token): catena_setup, one onboarding per sandbox
scenario (happy, reuse, decline, stale, failing), two `manual-` fleets (the sandbox never acts for them)
and a bulk run of two more. Once every manual fleet's sensor is deferred in a triggerer, one Celery
worker and the triggerer holding the most of those sensors are SIGKILLed (process groups, no warm
shutdown); only then do the manual fleets accept (one declines), so their sensors must be woken by the
surviving triggerer, the dead one's after Airflow hands its triggers over. Every run must still end as
its scenario expects. The killed worker is drained first (no new task, none running): a task running
in a SIGKILLed worker is only failed by Airflow's task heartbeat timeout (300 s), another story.

Figures (start-up, each run's trigger-to-end time, what was killed, when the sensors resumed) go to
the test log as `FIGURES production-topology:` lines.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests

from catena_airflow.inbox import InboxStore, Stage
from devstack.observe import (
    FleetReport,
    check,
    count_rows,
    deferral_processed,
    find_onboarding,
    operations_settled,
    refresh_stages,
    trigger_bulk_onboarding,
    trigger_onboardings,
)
from devstack.processes import free_port
from devstack.rest import AirflowRest, RunState
from devstack.sandbox import Sandbox, SandboxSettings
from devstack.scenarios import (
    BULK_ONBOARDING_DAG,
    ONBOARDING_DAG,
    OPERATIONS_DAG,
    SETUP_DAG,
    FleetScenario,
    demo_fleets,
)
from devstack.services import claim_redis_database
from devstack.topology import SCHEDULER, Component, ProductionTopology, TopologySettings
from tests.e2e.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(1500)]

DAG_IDS = (SETUP_DAG, ONBOARDING_DAG, BULK_ONBOARDING_DAG, OPERATIONS_DAG)
SPEED = 30  # sandbox scenario steps 0.1 s apart, as in the demo
READY_TIMEOUT = 480
RUN_TIMEOUT = 420
DECLINE_REASON = "Declined while a worker and a triggerer were down"

# A deferred sensor: (dag_id, run_id, task_id, map_index).
Wait = tuple[str, str, str, int]


def _figure(config: pytest.Config, text: str) -> None:
    """A line for the test log, shown even when pytest captures output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"FIGURES production-topology: {text}", flush=True)


@dataclass
class Stack:
    topology: ProductionTopology
    sandbox: Sandbox
    rest: AirflowRest
    inbox: InboxStore
    figure: Callable[[str], None]


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, postgres_database_factory, redis_server_url) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("topology")
    sandbox = Sandbox(SandboxSettings(port=free_port(), speed=SPEED, log_path=home / "logs" / "sandbox.log"))
    figure = lambda text: _figure(request.config, text)  # noqa: E731
    with claim_redis_database(redis_server_url) as redis_url, contextlib.ExitStack() as cleanup:
        settings = TopologySettings(
            home=home,
            postgres={name: postgres_database_factory() for name in ("airflow", "catena_inbox", "catena_warehouse")},
            redis_url=redis_url,
            sandbox_url=sandbox.base_url,
            api_port=free_port(),
        )
        topology = ProductionTopology(settings)
        inbox = InboxStore(settings.postgres["catena_inbox"])
        # Torn down in reverse: the sandbox first (its delivery connections would hold up the api-server's
        # graceful shutdown), then Airflow, then the stores.
        cleanup.callback(inbox.dispose)
        cleanup.callback(topology.stop)
        cleanup.callback(sandbox.stop)
        started = time.monotonic()
        try:
            sandbox.start()
            topology.start()
            topology.wait_until_ready(DAG_IDS, timeout=READY_TIMEOUT)
        except Exception as exc:
            pytest.fail(f"the topology did not come up: {exc}")
        figure(
            f"start-up {time.monotonic() - started:.1f} s (airflow-init {topology.init_seconds:.1f} s) to every"
            f" component healthy, both triggerers heartbeating, both workers answering, the DAGs parsed;"
            f" redis {redis_url}"
        )
        with AirflowRest(topology.base_url, topology.admin_user, settings.admin_password) as rest:
            yield Stack(topology, sandbox, rest, inbox, figure)


@dataclass
class Outcomes:
    setup_state: str
    reports: dict[str, FleetReport]  # by kind: the five scenarios, "manual", "manual-decline"
    bulk: RunState
    bulk_refs: list[str]
    killed_worker: Component
    killed_triggerer: Component
    orphaned: list[Wait]  # sensors deferred in the killed triggerer when it died
    resumed_after: dict[Wait, float] = field(default_factory=dict)  # seconds from the kills to leaving deferred


def _manual(kind: str, ref: str, run_state: str, stage: Stage) -> FleetScenario:
    return FleetScenario(
        kind=kind,
        fleet_ref=ref,
        fleet_name=f"{kind.replace('-', ' ').title()} Freight",
        run_state=run_state,
        stage=stage,
        ingests=run_state == "success",
        operations=(),
    )


def _waiting(stack: Stack, waits: list[Wait]) -> dict[Wait, int] | None:
    """Each wait's triggerer job once all are deferred, assigned to a triggerer and seen so by the scheduler."""
    deferred = {
        (row["dag_id"], row["run_id"], row["task_id"], row["map_index"]): row["triggerer_id"]
        for row in stack.topology.deferred_tasks()
    }
    if not all(deferred.get(wait) for wait in waits):
        return None
    scheduler_log = stack.topology.components[SCHEDULER].process.log_path.read_text(errors="replace")
    if not all(deferral_processed(scheduler_log, *wait) for wait in waits):
        return None
    return {wait: deferred[wait] for wait in waits}


def _act(stack: Stack, fleet_ref: str, action: str, body: dict) -> None:
    onboarding = find_onboarding(stack.inbox, fleet_ref)
    assert onboarding is not None, f"{fleet_ref}: no onboarding in the inbox"
    url = f"{stack.sandbox.base_url}/sandbox/invitations/{onboarding.invitation_id}/{action}"
    answer = requests.post(url, json=body, timeout=30)
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def outcomes(stack: Stack) -> Outcomes:
    rest, topology, figure = stack.rest, stack.topology, stack.figure
    receiver_url = f"{topology.base_url}/catena/webhooks"
    setup_run = rest.trigger(SETUP_DAG, {"receiver_url": receiver_url})
    setup = rest.wait_for_runs([(SETUP_DAG, setup_run)], timeout=RUN_TIMEOUT)[(SETUP_DAG, setup_run)]
    assert setup.state == "success", rest.failed_task_logs(SETUP_DAG, setup_run)
    figure(f"catena_setup {setup.state} in {setup.seconds:.1f} s")

    tag = secrets.token_hex(3)
    scenarios = [
        *demo_fleets(tag),
        _manual("manual", f"manual-{tag}", "success", Stage.CONNECTED),
        _manual("manual-decline", f"manual-decline-{tag}", "failed", Stage.DECLINED),
    ]
    reports = trigger_onboardings(rest, scenarios)
    bulk_refs = [f"manual-bulk1-{tag}", f"manual-bulk2-{tag}"]
    bulk_run = trigger_bulk_onboarding(rest, bulk_refs)
    waits: list[Wait] = [
        (ONBOARDING_DAG, reports[kind].run_id, "wait_for_fleet", -1) for kind in ("manual", "manual-decline")
    ] + [(BULK_ONBOARDING_DAG, bulk_run, "onboard_fleet.wait_for_fleet", index) for index in range(len(bulk_refs))]
    assigned = wait_until(
        lambda: _waiting(stack, waits), "the manual fleets' sensors to defer", timeout=RUN_TIMEOUT, interval=0.5
    )

    # The crashes: the triggerer holding the most waiting sensors, and a worker (drained first).
    unfinished = [
        kind for kind, report in reports.items() if not rest.run_state(ONBOARDING_DAG, report.run_id).finished
    ]
    held = Counter(assigned.values())
    triggerer = max(topology.triggerers(), key=lambda component: held[component.job_id])
    worker = topology.workers()[0]
    topology.drain_worker(worker)
    topology.kill(worker)
    topology.kill(triggerer)
    killed_at = time.monotonic()
    orphaned = [wait for wait, job in assigned.items() if job == triggerer.job_id]
    figure(
        f"SIGKILLed {worker.name} ({worker.celery_node}, pid {worker.process.pid}, drained first) and "
        f"{triggerer.name} (TriggererJob {triggerer.job_id}, pid {triggerer.process.pid}) holding "
        f"{len(orphaned)} of the {len(waits)} waiting sensors; the other triggerer held {len(waits) - len(orphaned)};"
        f" onboarding runs unfinished then: {', '.join(unfinished)} and the bulk run"
    )

    # Only now do the waiting fleets act (the events reach the inbox through the api-server's receiver).
    for ref in [reports["manual"].scenario.fleet_ref, *bulk_refs]:
        _act(stack, ref, "accept", {})
    _act(stack, reports["manual-decline"].scenario.fleet_ref, "decline", {"decline_reason": DECLINE_REASON})

    outcome = Outcomes(
        setup_state=setup.state,
        reports=reports,
        bulk=RunState(BULK_ONBOARDING_DAG, bulk_run, "queued", {}),
        bulk_refs=bulk_refs,
        killed_worker=worker,
        killed_triggerer=triggerer,
        orphaned=orphaned,
    )

    def note_resumed(_states: dict) -> None:
        still = {(row["dag_id"], row["run_id"], row["task_id"], row["map_index"]) for row in topology.deferred_tasks()}
        for wait in waits:
            if wait not in still and wait not in outcome.resumed_after:
                outcome.resumed_after[wait] = time.monotonic() - killed_at

    runs = [(ONBOARDING_DAG, report.run_id) for report in reports.values()] + [(BULK_ONBOARDING_DAG, bulk_run)]
    states = rest.wait_for_runs(runs, timeout=RUN_TIMEOUT, on_poll=note_resumed)
    for report in reports.values():
        report.run_state = states[(ONBOARDING_DAG, report.run_id)].state
        if report.run_state == "failed":
            report.failure_log = rest.failed_task_logs(ONBOARDING_DAG, report.run_id)
    outcome.bulk = states[(BULK_ONBOARDING_DAG, bulk_run)]
    refresh_stages(reports.values(), stack.inbox)

    wait_until(
        lambda: operations_settled(reports.values(), rest, stack.inbox),
        "the operations DAG to handle the stale and failing fleets",
        timeout=RUN_TIMEOUT,
    )
    count_rows(reports.values(), stack.inbox)

    for (dag_id, run_id), state in sorted(states.items(), key=lambda item: item[1].seconds or 0):
        kind = next((report.scenario.kind for report in reports.values() if report.run_id == run_id), "bulk")
        figure(f"run {kind:<15} {dag_id:<24} {state.state:<8} trigger to end {state.seconds:6.1f} s")
    for wait in waits:
        where = "killed triggerer" if wait in orphaned else "surviving triggerer"
        figure(
            f"sensor {wait[0]}/{wait[2]}[{wait[3]}] (on the {where}) left deferred"
            f" {outcome.resumed_after[wait]:.1f} s after the kills"
        )
    return outcome


def test_setup_subscribed_the_receiver(stack, outcomes):
    assert outcomes.setup_state == "success"
    assert {row["url"] for row in stack.inbox.subscriptions()} == {f"{stack.topology.base_url}/catena/webhooks"}


@pytest.mark.parametrize("kind", ["happy", "reuse", "decline", "stale", "failing", "manual", "manual-decline"])
def test_every_onboarding_ends_as_its_scenario_expects(outcomes, kind):
    report = outcomes.reports[kind]
    assert check(report) == [], f"{kind} ({report.scenario.fleet_ref}, run {report.run_id})"


def test_the_bulk_run_onboards_each_waiting_fleet(stack, outcomes):
    assert outcomes.bulk.state == "success"
    for ref in outcomes.bulk_refs:
        onboarding = find_onboarding(stack.inbox, ref)
        assert onboarding is not None and onboarding.stage is Stage.CONNECTED
        assert onboarding.run_id == outcomes.bulk.run_id


def test_the_killed_triggerers_sensors_were_taken_over(stack, outcomes):
    assert outcomes.orphaned, "the killed triggerer held none of the waiting sensors"
    assert set(outcomes.orphaned) <= set(outcomes.resumed_after)
    assert not stack.topology.deferred_tasks()


def test_only_the_killed_components_are_down(stack, outcomes):
    killed = {outcomes.killed_worker.name, outcomes.killed_triggerer.name}
    down = {name for name, component in stack.topology.components.items() if not component.process.running()}
    assert down == killed

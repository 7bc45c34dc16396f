"""The triggerer dies (SIGKILL) while onboarding sensors are deferred, and a new one is started:
the deferred sensors resume on it and complete when their fleets connect.

``airflow standalone`` (scheduler, dag-processor, api-server with the plugin's receiver, triggerer), the
sandbox and a PostgreSQL inbox, all real processes. ``manual-`` fleets act only when told, so the
sensors are certainly deferred before the kill, and only a webhook after the restart can wake them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.processes import ChildProcess, free_port, start_process
from devstack.rest import AirflowRest
from devstack.scenarios import ONBOARDING_DAG, SETUP_DAG
from devstack.standalone import (
    ADMIN_USER,
    AirflowStandalone,
    CatenaConnection,
    StandaloneSettings,
    standalone_environment,
)
from tests.integration.reliability.helpers import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(420)]

FLEETS = ("manual-trig-1", "manual-trig-2")
RUN_TIMEOUT = 180
# A dead triggerer's triggers go to a live one once its heartbeat is this many seconds old.
FAST_TRIGGERER_FAILOVER = {
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
}


def triggerer_pids(group_leader: int) -> list[int]:
    """``airflow triggerer`` processes (and their trigger runners) that standalone started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgid = os.getpgid(int(entry.name))
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ProcessLookupError):
            continue
        if pgid == group_leader and "triggerer" in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def standalone(tmp_path, sandbox, postgres_url) -> Iterator[tuple[AirflowStandalone, AirflowRest]]:
    booting = time.monotonic()
    settings = StandaloneSettings(
        airflow_home=tmp_path / "airflow",
        api_port=free_port(),
        catena=CatenaConnection.for_sandbox(sandbox.base_url),
        inbox_url=postgres_url,
        extra_env=FAST_TRIGGERER_FAILOVER,
    )
    with AirflowStandalone(settings) as airflow:
        airflow.wait_until_ready((SETUP_DAG, ONBOARDING_DAG), timeout=300)
        print(f"\nFIGURES triggerer-restart: standalone_ready_s={time.monotonic() - booting:.0f}")
        with AirflowRest(airflow.base_url, ADMIN_USER, settings.admin_password) as rest:
            yield airflow, rest


@pytest.fixture
def replacement_triggerer(standalone, tmp_path) -> Iterator[list[ChildProcess]]:
    started: list[ChildProcess] = []
    yield started
    for process in started:
        process.stop()


def task_state(rest: AirflowRest, run_id: str, task_id: str) -> str | None:
    return {t.task_id: t.state for t in rest.task_states(ONBOARDING_DAG, run_id)}.get(task_id)


def test_deferred_sensors_resume_on_a_restarted_triggerer(sandbox, standalone, replacement_triggerer):
    airflow, rest = standalone
    started = time.monotonic()
    setup = rest.trigger(SETUP_DAG, {"receiver_url": airflow.settings.receiver_url})
    assert rest.wait_for_runs([(SETUP_DAG, setup)], timeout=RUN_TIMEOUT)[(SETUP_DAG, setup)].state == "success"

    runs = {ref: rest.trigger(ONBOARDING_DAG, {"fleet_ref": ref, "expires_in_hours": 672}) for ref in FLEETS}
    for run_id in runs.values():
        eventually(lambda run_id=run_id: task_state(rest, run_id, "wait_for_fleet") == "deferred", timeout=RUN_TIMEOUT)

    deferred_after = time.monotonic() - started
    assert airflow.process is not None
    victims = triggerer_pids(airflow.process.pid)
    assert victims, "no triggerer process found under airflow standalone"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    eventually(lambda: not triggerer_pids(airflow.process.pid), timeout=30)
    # The sensors stay deferred while no triggerer runs: nothing fails, nothing is lost.
    assert {task_state(rest, run_id, "wait_for_fleet") for run_id in runs.values()} == {"deferred"}

    env = standalone_environment(airflow.settings)
    replacement_triggerer.append(
        start_process(
            "airflow triggerer",
            ["airflow", "triggerer"],
            log_path=airflow.settings.airflow_home / "triggerer-restarted.log",
            env=env,
            cwd=airflow.settings.airflow_home,
        )
    )
    # The fleets connect only now, so only the new triggerer can see their webhooks.
    invitations = {ref: sandbox.api("GET", "/v2/orgs/invitations", params={"fleet_ref": ref}).json() for ref in FLEETS}
    for ref, page in invitations.items():
        [invitation] = page["items"]
        accepted = requests.post(
            f"{sandbox.base_url}/sandbox/invitations/{invitation['id']}/accept", json={}, timeout=10
        )
        assert accepted.status_code == 200, (ref, accepted.text)

    restarted_at = time.monotonic()
    states = rest.wait_for_runs([(ONBOARDING_DAG, run_id) for run_id in runs.values()], timeout=RUN_TIMEOUT)
    for ref, run_id in runs.items():
        assert states[(ONBOARDING_DAG, run_id)].state == "success", rest.failed_task_logs(ONBOARDING_DAG, run_id)
        result = rest.xcom(ONBOARDING_DAG, run_id, "wait_for_fleet")
        assert result["fleet_ref"] == ref and result["source"] == "webhook"
    assert replacement_triggerer[0].running()
    print(
        f"\nFIGURES triggerer-restart: deferred={len(runs)} killed_pids={len(victims)} succeeded={len(runs)} "
        f"setup_and_deferral_s={deferred_after:.0f} restart_to_success_s={time.monotonic() - restarted_at:.0f}"
    )

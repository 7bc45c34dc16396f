"""``dag.test()`` of the operations DAG on what the sandbox's stale- and failing- fleets really send."""

from __future__ import annotations

import asyncio

import pytest
from airflow.utils.state import DagRunState

from catena_airflow.triggers.inbox_events import CatenaInboxEventTrigger
from tests.integration.dags.conftest import task_states, xcom

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(300)]


def onboarded(deployment, fleet_ref: str) -> dict:
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": fleet_ref})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    return xcom(run, "wait_for_fleet")


async def first_watcher_event(event_names: list[str]) -> dict:
    trigger = CatenaInboxEventTrigger(event_names=event_names, poll_interval=0.1)
    gen = trigger.run()
    try:
        return (await asyncio.wait_for(gen.asend(None), 30)).payload
    finally:
        await gen.aclose()


def test_stale_connection_pauses_ingestion_until_the_fleet_re_authenticates(deployment, caplog):
    fleet = onboarded(deployment, "stale-acme")
    staled = deployment.wait_for_event("connection.staled")
    # The operations asset's watcher turns the delivered webhook into one asset event.
    assert asyncio.run(first_watcher_event(["connection.staled"]))["event_id"] == staled.event_id
    with caplog.at_level("WARNING", logger="catena_airflow.notifications.catena"):
        run = deployment.run("catena_fleet_operations")
    assert run.state == DagRunState.SUCCESS, task_states(run)
    assert xcom(run, "handle_connection_events")["staled"] == [fleet["fleet_id"]]
    status = deployment.destination.get_fleet_status(fleet["fleet_id"])
    assert (status.status, status.ingestion_paused) == ("stale", True)
    invitation = deployment.inbox.get_onboarding(fleet["invitation_id"])
    assert invitation.magic_link in caplog.text  # the alert carries the re-authentication link

    for connection_id in fleet["connection_ids"]:
        deployment.sandbox.admin("POST", f"/connections/{connection_id}/reauthenticate").raise_for_status()
    again = deployment.run("catena_fleet_operations")
    assert xcom(again, "handle_connection_events")["recovered"] == [fleet["fleet_id"]]
    assert deployment.destination.get_fleet_status(fleet["fleet_id"]).ingestion_paused is False


def test_failing_schedule_is_alerted_reactivated_and_verified_active(deployment):
    fleet = onboarded(deployment, "failing-acme")
    deactivated = deployment.wait_for_event("schedule.deactivated")
    run = deployment.run("catena_fleet_operations")
    assert run.state == DagRunState.SUCCESS, task_states(run)
    failures = xcom(run, "handle_execution_failures")
    assert failures["recorded"] >= 3
    assert failures["alerted"]
    schedule = deactivated.data[0]
    assert xcom(run, "reactivate_schedules")["reactivated"] == [schedule["id"]]
    response = deployment.sandbox.api(
        "GET", f"/v2/integrations/connections/{schedule['connection_id']}/schedules/{schedule['id']}"
    )
    assert response.json()["status"] == "active"
    assert schedule["connection_id"] in fleet["connection_ids"]

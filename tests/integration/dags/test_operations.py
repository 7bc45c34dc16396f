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
    status = deployment.inbox.get_fleet_status(fleet["fleet_id"])
    assert (status.status, status.ingestion_paused) == ("stale", True)
    invitation = deployment.inbox.get_onboarding(fleet["invitation_id"])
    assert invitation.magic_link in caplog.text  # the alert carries the re-authentication link

    for connection_id in fleet["connection_ids"]:
        deployment.sandbox.admin("POST", f"/connections/{connection_id}/reauthenticate").raise_for_status()
    again = deployment.run("catena_fleet_operations")
    assert xcom(again, "handle_connection_events")["recovered"] == [fleet["fleet_id"]]
    assert deployment.inbox.get_fleet_status(fleet["fleet_id"]).ingestion_paused is False


def schedule_status(deployment, schedule: dict) -> str:
    path = f"/v2/integrations/connections/{schedule['connection_id']}/schedules/{schedule['id']}"
    return deployment.sandbox.api("GET", path).json()["status"]


def test_a_failing_schedule_is_held_for_a_person_who_reactivates_it(deployment):
    """Failures with the connection active have no cause that passed: pause the resource, ask a person."""
    fleet = onboarded(deployment, "failing-acme")
    deactivated = deployment.wait_for_event("schedule.deactivated")
    run = deployment.run("catena_fleet_operations")
    assert run.state == DagRunState.SUCCESS, task_states(run)
    failures = xcom(run, "handle_execution_failures")
    assert failures["recorded"] >= 3
    assert failures["alerted"]
    schedule = deactivated.data[0]
    assert schedule["connection_id"] in fleet["connection_ids"]
    assert xcom(run, "reactivate_schedules") | {"handled": 0, "cursor": 0} == {
        "reactivated": [],
        "held": [schedule["id"]],
        "handled": 0,
        "cursor": 0,
    }
    assert schedule_status(deployment, schedule) == "inactive"
    assert list(deployment.inbox.paused_resources(fleet["fleet_id"])) == [schedule["resource"]]

    decided = deployment.run("catena_fleet_operations", {"reactivate_schedule_ids": [schedule["id"]]})

    assert decided.state == DagRunState.SUCCESS, task_states(decided)
    assert xcom(decided, "reactivate_schedules")["reactivated"] == [schedule["id"]]
    assert schedule_status(deployment, schedule) == "active"
    assert deployment.inbox.paused_resources(fleet["fleet_id"]) == {}
    onboarding = deployment.inbox.get_onboarding(fleet["invitation_id"])
    assert onboarding.schedules[schedule["id"]].status == "active"  # the dashboard's alert is gone


def test_a_schedule_deactivated_while_its_connection_was_stale_is_reactivated_once_it_is_back(deployment):
    fleet = onboarded(deployment, "acme-stale-then-failing")
    (connection_id,) = fleet["connection_ids"]
    deployment.sandbox.admin("POST", f"/connections/{connection_id}/stale").raise_for_status()
    deployment.wait_for_event("connection.staled", where=lambda e: e.data[0].get("id") == connection_id)
    schedules = deployment.sandbox.api("GET", f"/v2/integrations/connections/{connection_id}/schedules").json()
    schedule = schedules["items"][0]
    deployment.sandbox.admin("POST", f"/schedules/{schedule['id']}/deactivate").raise_for_status()
    deployment.wait_for_event("schedule.deactivated", where=lambda e: e.data[0].get("id") == schedule["id"])

    waiting = deployment.run("catena_fleet_operations")
    assert xcom(waiting, "reactivate_schedules")["held"] == [schedule["id"]]
    assert deployment.inbox.get_schedule_hold(schedule["id"]).state == "awaiting_connection"

    deployment.sandbox.admin("POST", f"/connections/{connection_id}/reauthenticate").raise_for_status()
    back = deployment.run("catena_fleet_operations")

    assert xcom(back, "reactivate_schedules")["reactivated"] == [schedule["id"]]
    assert schedule_status(deployment, schedule) == "active"

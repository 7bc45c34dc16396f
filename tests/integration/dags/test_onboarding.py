"""``dag.test()`` of the onboarding DAGs against the real sandbox, receiver and PostgreSQL inbox."""

from __future__ import annotations

import pytest
from airflow.utils.state import DagRunState

from tests.fixtures.net import free_port
from tests.integration.dags.conftest import task_states, xcom

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(300)]


def test_happy_path_is_woken_by_the_webhook_and_ingests(slow_deployment):
    deployment = slow_deployment
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": "acme-happy", "fleet_name": "Acme Happy"})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    result = xcom(run, "wait_for_fleet")
    assert result["source"] == "webhook"
    assert result["fleet_ref"] == "acme-happy"
    assert result["connection_ids"]
    assert result["share_agreement_scopes"]
    ingested = xcom(run, "ingest_fleet")
    assert ingested["fleet_id"] == result["fleet_id"]
    assert deployment.warehouse.ids("vehicles", result["fleet_id"])
    invitation = xcom(run, "create_invitation")
    assert deployment.inbox.get_onboarding(invitation["id"]).is_connected


def test_reused_connection_completes_without_connection_created(deployment):
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": "reuse-acme"})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    assert xcom(run, "wait_for_fleet")["connection_ids"]
    assert not deployment.inbox.events_after(0, ["connection.created"])
    invitation = xcom(run, "create_invitation")
    # The "Catena magic link" button's URL, stored by the task runner from the operator extra link.
    assert xcom(run, "create_invitation", key="_link_CatenaMagicLink") == invitation["magic_link"]


def test_declined_fails_with_the_reason(deployment, capfd):
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": "decline-acme"})
    assert run.state == DagRunState.FAILED
    states = task_states(run)
    assert states["wait_for_fleet"] == "failed"
    assert states["ingest_fleet"] == "upstream_failed"
    onboarding = deployment.inbox.get_onboarding(xcom(run, "create_invitation")["id"])
    assert onboarding.decline_reason
    assert f"declined the invitation: {onboarding.decline_reason}" in capfd.readouterr().out


def test_expired_fails_as_expired(deployment, capfd):
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": "expire-acme", "expires_in_hours": 1})
    assert run.state == DagRunState.FAILED
    assert task_states(run)["wait_for_fleet"] == "failed"
    assert "was expired" in capfd.readouterr().out


def test_a_dropped_webhook_is_recovered_by_reconciliation(deployment):
    # Catena's fleet_connection.created delivery goes to a port where nothing answers (then its DLQ).
    dead = f"http://127.0.0.1:{free_port()}/catena/webhooks"
    subscriptions = deployment.sandbox.api(
        "GET", "/v2/notifications/webhooks", params={"event_name": "fleet_connection.created"}
    )
    for sub in subscriptions.json()["items"]:
        deployment.sandbox.api(
            "PATCH", f"/v2/notifications/webhooks/{sub['id']}", json={"url": dead}
        ).raise_for_status()
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": "acme-dropped", "reconcile_interval": 1})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    assert xcom(run, "wait_for_fleet")["source"] == "reconciliation"
    assert not deployment.inbox.events_after(0, ["fleet_connection.created"])


def test_bulk_fleets_have_independent_outcomes(deployment):
    fleets = [{"fleet_ref": "acme-bulk-1"}, {"fleet_ref": "decline-bulk-2"}, {"fleet_ref": "reuse-bulk-3"}]
    run = deployment.run("catena_bulk_onboarding", {"fleets": fleets, "expires_in_hours": 48})
    states = task_states(run)
    assert states["onboard_fleet.ingest_fleet[0]"] == "success"
    assert states["onboard_fleet.wait_for_fleet[1]"] == "failed"
    assert states["onboard_fleet.ingest_fleet[1]"] == "upstream_failed"
    assert states["onboard_fleet.ingest_fleet[2]"] == "success"
    refs = {xcom(run, "onboard_fleet.wait_for_fleet", i)["fleet_ref"] for i in (0, 2)}
    assert refs == {"acme-bulk-1", "reuse-bulk-3"}

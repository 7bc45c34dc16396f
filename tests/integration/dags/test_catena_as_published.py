"""Onboarding against Catena as its newest specs describe it (issue #13), with ``dag.test()``, the strict
sandbox, a real receiver process and a PostgreSQL inbox.

The sandbox varies what the specs leave open (sandbox/README.md, Variations); these tests pin the
hardest choices so the product cannot pass by luck.
"""

from __future__ import annotations

import pytest
from airflow.utils.state import DagRunState

from catena_airflow.client import CatenaClient
from catena_airflow.inbox import Stage
from catena_airflow.waiting.reconcile import reconcile_onboarding
from tests.integration.dags.conftest import task_states, xcom

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(300)]

#: Nothing in the events ties the fleet to the invitation: no fleet_id on invitation.accepted, no
#: fleet_ref and no invitation_id on the share agreement, no fleet_ref on invitation records.
UNLINKED = {
    "invitation_fleet_id": "null",
    "invitation_fleet_ref": "null",
    "share_agreement_fleet_ref": "null",
    "share_agreement_invitation_id": "absent",
}


def client_of(sandbox) -> CatenaClient:
    return sandbox.catena_client()


@pytest.mark.parametrize(
    "knobs",
    [
        UNLINKED,
        {**UNLINKED, "share_agreement_fleet_ref": "set"},
        {**UNLINKED, "share_agreement_invitation_id": "present", "invitation_fleet_id": "set"},
        {"share_agreement_invitation_id": "null", "event_id_across_subscriptions": "different"},
    ],
    ids=["nothing-links-by-events", "agreement-names-the-ref", "older-spec-shape", "two-envelope-ids"],
)
def test_the_fleet_connects_and_is_ingested_whatever_the_spec_left_open(deployment, knobs):
    deployment.sandbox.variations(**knobs)
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": "acme-published"})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    result = xcom(run, "wait_for_fleet")
    assert (result["fleet_ref"], bool(result["connection_ids"]), bool(result["share_agreement_id"])) == (
        "acme-published",
        True,
        True,
    )
    assert deployment.warehouse.ids("vehicles", result["fleet_id"])
    sandbox_view = deployment.sandbox.admin("GET", f"/invitations/{result['invitation_id']}").json()
    assert result["fleet_id"] == sandbox_view["fleet_id"]  # the right fleet, not just a fleet


def test_a_callback_url_only_onboarding_needs_no_org_wide_subscription(bare_deployment):
    """Catena makes subscriptions of its own for the callback_url; the receiver verifies their deliveries."""
    deployment = bare_deployment
    assert deployment.sandbox.api("GET", "/v2/notifications/webhooks").json()["items"] == []
    deployment.sandbox.variations(callback_secret_read="masked")  # the operator has to rotate them
    run = deployment.run(
        "catena_fleet_onboarding",
        {"fleet_ref": "acme-callback", "callback_url": deployment.receiver.url, "reconcile_interval": 3600},
    )
    assert run.state == DagRunState.SUCCESS, task_states(run)
    invitation_id = xcom(run, "create_invitation")["id"]
    assert deployment.inbox.get_onboarding(invitation_id).is_connected
    callbacks = {s["id"] for s in deployment.sandbox.api("GET", "/v2/notifications/webhooks").json()["items"]}
    stored = {row["webhook_id"] for row in deployment.inbox.subscriptions()}
    assert callbacks and callbacks <= stored
    delivered = {e.webhook_id for e in deployment.inbox.events_after(0, limit=1000)}
    assert delivered and delivered <= callbacks  # every event came through the callback subscriptions


def test_the_receiver_learns_a_callback_subscription_it_was_never_told_about(bare_deployment):
    """An invitation made outside Airflow with our receiver as callback_url: the secrets are Catena's."""
    deployment = bare_deployment
    deployment.sandbox.variations(callback_secret_read="clear")
    with client_of(deployment.sandbox) as client:
        invitation = client.create_invitation(fleet_ref="acme-elsewhere", callback_url=deployment.receiver.url)
    accepted = deployment.wait_for_event(
        "fleet_connection.created", where=lambda e: e.invitation_id == invitation.id, timeout=60
    )
    assert accepted.webhook_id in {row["webhook_id"] for row in deployment.inbox.subscriptions()}
    assert deployment.inbox.get_onboarding(invitation.id).stage is Stage.CONNECTED


def test_setup_next_to_callback_subscriptions_creates_the_org_wide_ones(bare_deployment):
    deployment = bare_deployment
    with client_of(deployment.sandbox) as client:
        client.create_invitation(fleet_ref="manual-callback", callback_url=deployment.receiver.url)
        before = {s.id: s.updated_at for s in client.list_webhook_subscriptions()}
        run = deployment.run("catena_setup", {"receiver_url": deployment.receiver.url})
        assert run.state == DagRunState.SUCCESS, task_states(run)
        after = list(client.list_webhook_subscriptions())
    org_wide = [s for s in after if s.filters is None or not (s.filters.fleet_refs or s.filters.fleet_ids)]
    assert {s.event_name.partition(".")[0] for s in org_wide} >= {
        "invitation",
        "share_agreement",
        "connection",
        "fleet_connection",
        "execution",
        "schedule",
    }
    assert {s.id: s.updated_at for s in after if s.id in before} == before  # the callback ones untouched


def test_a_fleet_that_declined_can_be_invited_again(deployment):
    first = deployment.run("catena_fleet_onboarding", {"fleet_ref": "decline-once-acme"})
    assert first.state == DagRunState.FAILED
    second = deployment.run("catena_fleet_onboarding", {"fleet_ref": "decline-once-acme"})
    assert second.state == DagRunState.SUCCESS, task_states(second)
    invitation = xcom(second, "create_invitation")
    assert invitation["refreshed"] and invitation["id"] == xcom(first, "create_invitation")["id"]
    onboarding = deployment.inbox.get_onboarding(invitation["id"])
    assert (onboarding.stage, onboarding.attempt) == (Stage.CONNECTED, 2)
    assert [a.stage for a in onboarding.previous_attempts] == [Stage.DECLINED]


def test_a_fleet_whose_link_expired_can_be_invited_again(deployment):
    first = deployment.run("catena_fleet_onboarding", {"fleet_ref": "expire-once-acme", "expires_in_hours": 1})
    assert first.state == DagRunState.FAILED
    second = deployment.run("catena_fleet_onboarding", {"fleet_ref": "expire-once-acme"})
    assert second.state == DagRunState.SUCCESS, task_states(second)
    old, new = xcom(first, "create_invitation")["id"], xcom(second, "create_invitation")["id"]
    assert old != new  # Catena made a new invitation
    assert deployment.inbox.get_onboarding(old).stage is Stage.EXPIRED
    assert deployment.inbox.get_onboarding(new).stage is Stage.CONNECTED


def test_reinvite_on_expiry_waits_for_the_second_invitation_in_the_same_run(deployment):
    run = deployment.run(
        "catena_fleet_onboarding", {"fleet_ref": "expire-once-again", "expires_in_hours": 1, "reinvite_on_expiry": True}
    )
    assert run.state == DagRunState.SUCCESS, task_states(run)
    result = xcom(run, "wait_for_fleet")
    assert result["invitation_id"] != xcom(run, "create_invitation")["id"]
    assert deployment.warehouse.ids("vehicles", result["fleet_id"])


def test_reconciliation_against_catena_as_published_never_takes_another_fleet(deployment):
    """The sandbox ignores the old invitation_id filter and holds other fleets' agreements."""
    connected = deployment.run("catena_fleet_onboarding", {"fleet_ref": "acme-other"})
    assert connected.state == DagRunState.SUCCESS, task_states(connected)
    with client_of(deployment.sandbox) as client:
        waiting = client.create_invitation(fleet_ref="manual-waiting")
        deployment.inbox.register_invitation(waiting)
        result = reconcile_onboarding(client, deployment.inbox, waiting.id)
    assert (result.connected, result.fleet_id, result.onboarding.stage) == (False, None, Stage.INVITED)

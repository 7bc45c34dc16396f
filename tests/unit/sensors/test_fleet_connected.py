"""The fleet-connected sensor: check once, defer, and turn each trigger event into a result or a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from catena_airflow.sensors.fleet_connected import CatenaFleetConnectedSensor
from catena_airflow.triggers.fleet_connected import CatenaFleetConnectedTrigger
from tests.unit.airflow_layer import CATENA_URL, invitation_json, onboard, page, webhook


def sensor(invitation_id, **kwargs) -> CatenaFleetConnectedSensor:
    return CatenaFleetConnectedSensor(task_id="wait_for_fleet", invitation_id=invitation_id, **kwargs)


def test_defers_to_the_trigger_with_a_timeout_at_the_invitation_expiry(inbox):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    task = sensor({"id": invitation["id"], "magic_link": "..."}, reconcile_interval="30", poll_interval=0.5)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, CatenaFleetConnectedTrigger)
    assert (trigger.invitation_id, trigger.reconcile_interval, trigger.poll_interval) == (invitation["id"], 30.0, 0.5)
    assert deferred.value.method_name == "execute_complete"
    expiry = datetime.fromisoformat(invitation["expires_at"].replace("Z", "+00:00")) + timedelta(minutes=5)
    expected = (expiry - datetime.now(UTC)).total_seconds()
    assert abs(deferred.value.timeout.total_seconds() - expected) < 60


def test_an_explicit_timeout_wins(inbox):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(invitation["id"], timeout=120).execute({})
    assert deferred.value.timeout == timedelta(seconds=120)


def test_already_connected_returns_without_deferring(inbox):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    onboard(inbox, invitation, "fleet-1", "conn-1")
    result = sensor(invitation["id"]).execute({})
    assert result["fleet_id"] == "fleet-1"
    assert result["connection_ids"] == ["conn-1"]
    assert result["source"] == "inbox"


def test_declined_fails_at_once_with_the_reason(inbox):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    webhook(inbox, "invitation.declined", **{**invitation, "status": "declined", "decline_reason": "Not interested"})
    with pytest.raises(AirflowFailException, match="declined the invitation: Not interested"):
        sensor(invitation["id"]).execute({})


def test_an_invitation_unknown_to_the_inbox_is_learnt_from_catena(inbox, catena_api):
    invitation = invitation_json()
    catena_api.get(f"{CATENA_URL}/v2/orgs/invitations/{invitation['id']}", json=invitation)
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([]))
    with pytest.raises(TaskDeferred):
        sensor(invitation["id"]).execute({})
    assert inbox.get_onboarding(invitation["id"]).fleet_ref == "acme-1"


def test_bad_invitation_argument_fails_clearly():
    with pytest.raises(AirflowFailException, match="invitation_id must be"):
        sensor({"magic_link": "x"}).execute({})


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        (
            {"status": "declined", "message": "fleet acme declined the invitation: too pricey"},
            AirflowFailException,
            "too pricey",
        ),
        ({"status": "expired", "message": "The invitation of fleet acme was expired"}, AirflowFailException, "expired"),
        ({"status": "deleted", "message": "The invitation of fleet acme was deleted"}, AirflowFailException, "deleted"),
        ({"status": "error", "message": "inbox unreachable"}, AirflowException, "inbox unreachable"),
        ({"status": "weird"}, AirflowException, "unexpected trigger event"),
        (None, AirflowException, "unexpected trigger event"),
    ],
)
def test_execute_complete_failures(event, error, match):
    with pytest.raises(error, match=match):
        sensor("inv-1").execute_complete({}, event)


def test_execute_complete_rejects_an_event_of_another_invitation():
    with pytest.raises(AirflowException, match="expected inv-1"):
        sensor("inv-1").execute_complete({}, {"status": "connected", "invitation_id": "inv-2"})


def test_execute_complete_returns_fleet_connections_and_scopes():
    event = {
        "status": "connected",
        "invitation_id": "inv-1",
        "fleet_ref": "acme",
        "fleet_id": "fleet-1",
        "connection_ids": ["c1"],
        "share_agreement_scopes": {"vehicle": "read"},
        "source": "webhook",
    }
    result = sensor("inv-1").execute_complete({}, event)
    assert result["fleet_id"] == "fleet-1"
    assert result["connection_ids"] == ["c1"]
    assert result["share_agreement_scopes"] == {"vehicle": "read"}
    assert result["source"] == "webhook"


def test_not_deferrable_pokes_in_reschedule_mode(inbox):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    task = sensor(invitation["id"], deferrable=False, timeout=600, reconcile_interval=10**9)
    assert task.mode == "reschedule"
    assert task.poke({}) is False
    onboard(inbox, invitation, "fleet-1", "conn-1")
    done = task.poke({})
    assert done.is_done
    assert done.xcom_value["fleet_id"] == "fleet-1"


def expired_invitation(inbox, run_id=None):
    invitation = invitation_json(fleet_ref="acme-9")
    inbox.register_invitation(invitation, dag_id="catena_fleet_onboarding", run_id=run_id)
    webhook(inbox, "invitation.expired", **{**invitation, "status": "expired"})
    return invitation


def test_an_expiry_fails_the_wait_unless_reinvite_on_expiry(inbox):
    invitation = expired_invitation(inbox)
    with pytest.raises(AirflowFailException, match="was expired"):
        sensor(invitation["id"], reinvite_on_expiry="False", invitation={"fleet_ref": "acme-9"}).execute({})


def test_reinvite_on_expiry_invites_once_and_waits_for_the_new_attempt(inbox, catena_api, catena_make_new):
    """Catena may answer a second invitation for the ref with a new invitation (201) or a refresh (200)."""
    invitation = expired_invitation(inbox)
    again = invitation_json(fleet_ref="acme-9") if catena_make_new else {**invitation, "status": "active"}
    again["expires_at"] = (datetime.now(UTC) + timedelta(hours=48)).isoformat()
    create = catena_api.post(
        f"{CATENA_URL}/v2/orgs/invitations", json=again, status_code=201 if catena_make_new else 200
    )
    task = sensor(
        invitation["id"], reinvite_on_expiry="True", invitation={"fleet_ref": "acme-9", "expires_in_hours": 48}
    )

    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})

    assert create.call_count == 1 and create.last_request.json() == {"fleet_ref": "acme-9", "expires_in_hours": 48}
    assert deferred.value.trigger.invitation_id == again["id"]
    assert deferred.value.kwargs == {"invitation_id": again["id"], "reinvited": True}
    assert abs(deferred.value.timeout.total_seconds() - 48 * 3600 - 300) < 60
    assert inbox.get_onboarding(again["id"]).stage.value == "invited"
    # The second attempt expiring too ends the wait: once, not forever.
    expired_again = {"status": "expired", "invitation_id": again["id"], "message": "The invitation was expired"}
    with pytest.raises(AirflowFailException, match="was expired"):
        task.execute_complete({}, expired_again, **deferred.value.kwargs)
    assert create.call_count == 1


def test_the_wait_retries_by_default(inbox):
    """A retry re-reads the inbox (Airflow 3.3.2 can fail a sensor resumed right after deferring)."""
    task = sensor("inv-1")
    assert task.retries >= 1
    assert sensor("inv-1", retries=0).retries == 0


def test_a_retry_follows_the_invitation_an_earlier_try_of_the_run_sent(inbox, catena_api):
    """The earlier try's XComs are gone; the inbox knows the run's newer invitation for the ref."""
    invitation = expired_invitation(inbox, run_id="run-1")
    again = invitation_json(fleet_ref="acme-9")
    inbox.register_invitation(again, dag_id="catena_fleet_onboarding", run_id="run-1")
    create = catena_api.post(f"{CATENA_URL}/v2/orgs/invitations", json=again, status_code=201)
    task = sensor(invitation["id"], reinvite_on_expiry="True", invitation={"fleet_ref": "acme-9"})

    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"dag_run": SimpleNamespace(run_id="run-1")})

    assert create.call_count == 0
    assert deferred.value.kwargs == {"invitation_id": again["id"], "reinvited": True}


def test_a_newer_invitation_of_another_run_is_not_followed(inbox, catena_api):
    invitation = expired_invitation(inbox, run_id="run-1")
    inbox.register_invitation(invitation_json(fleet_ref="acme-9"), dag_id="catena_fleet_onboarding", run_id="run-2")
    again = invitation_json(fleet_ref="acme-9")
    create = catena_api.post(f"{CATENA_URL}/v2/orgs/invitations", json=again, status_code=201)
    task = sensor(invitation["id"], reinvite_on_expiry="True", invitation={"fleet_ref": "acme-9"})

    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"dag_run": SimpleNamespace(run_id="run-1")})

    assert create.call_count == 1
    assert deferred.value.kwargs == {"invitation_id": again["id"], "reinvited": True}


@pytest.fixture(params=[True, False], ids=["new-invitation", "refreshed"])
def catena_make_new(request):
    return request.param

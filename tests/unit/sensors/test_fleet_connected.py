"""The fleet-connected sensor: check once, defer, and turn each trigger event into a result or a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from catena_airflow.sensors.fleet_connected import CatenaFleetConnectedSensor
from catena_airflow.triggers.fleet_connected import CatenaFleetConnectedTrigger
from tests.unit.airflow_layer import CATENA_URL, invitation_json, onboard, page, webhook


def sensor(invitation, **kwargs) -> CatenaFleetConnectedSensor:
    return CatenaFleetConnectedSensor(task_id="wait_for_fleet", invitation_id=invitation, **kwargs)


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

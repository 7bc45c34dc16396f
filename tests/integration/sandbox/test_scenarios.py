"""Fleet behaviour by fleet_ref prefix, and each step driven by hand, observed through a real receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.sandbox import DEFAULT_SPEED as SPEED
from tests.integration.sandbox.helpers import (
    ONBOARDING_FAMILIES,
    OPERATION_FAMILIES,
    event_names,
    invite,
    records,
    subscribe,
    wait_connected,
)
from tests.integration.sandbox.receiver import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture
def subscribed(sandbox, receiver: Receiver) -> Receiver:
    subscribe(sandbox, receiver, *ONBOARDING_FAMILIES, *OPERATION_FAMILIES)
    return receiver


def test_reuse_skips_connection_created(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "reuse-7")
    subscribed.wait_for_events("fleet_connection.created")
    sandbox.wait_idle()
    names = event_names(subscribed)
    assert "connection.created" not in names
    assert {"invitation.accepted", "share_agreement.created"} <= set(names)
    link = records(subscribed, "fleet_connection.created")[0]
    connection = sandbox.api("GET", f"/v2/integrations/connections/{link['connection_id']}").json()
    assert connection["status"] == "active" and connection["created_at"] < invitation["created_at"]


def test_decline_carries_a_reason(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "decline-1")
    subscribed.wait_for_events("invitation.declined")
    declined = records(subscribed, "invitation.declined")[0]
    assert declined["id"] == invitation["id"] and declined["status"] == "declined"
    assert declined["decline_reason"]
    assert "invitation.viewed" in event_names(subscribed)
    assert "invitation.accepted" not in event_names(subscribed)
    assert sandbox.api("POST", f"/v2/orgs/invitations/{invitation['id']}/accept").status_code == 409


def test_expire_honours_expires_in_hours_scaled_by_speed(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "expire-1", expires_in_hours=1)  # one second at speed 3600
    subscribed.wait_for_events("invitation.expired")
    expired = records(subscribed, "invitation.expired")[0]
    assert expired["id"] == invitation["id"] and expired["status"] == "expired"
    assert event_names(subscribed) == ["invitation.created", "invitation.expired"]
    again = sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_ref": "expire-1"})
    assert again.status_code == 201 and again.json()["id"] != invitation["id"]


def test_fleet_email_sends_the_invitation(sandbox, subscribed: Receiver) -> None:
    invite(sandbox, "manual-mail", fleet_email="dispatch@acme.example.com")
    subscribed.wait_for_events("invitation.sent")
    names = event_names(subscribed)
    assert names.index("invitation.created") < names.index("invitation.sent")


def test_delete_before_acceptance_emits_deleted(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "manual-del")
    assert sandbox.api("DELETE", f"/v2/orgs/invitations/{invitation['id']}").status_code == 204
    subscribed.wait_for_events("invitation.deleted")
    assert records(subscribed, "invitation.deleted")[0]["status"] == "deleted"
    assert sandbox.api("DELETE", f"/v2/orgs/invitations/{invitation['id']}").status_code == 404


def test_accepted_invitation_cannot_be_deleted(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "manual-acc")
    sandbox.admin("POST", f"/invitations/{invitation['id']}/accept").raise_for_status()
    response = sandbox.api("DELETE", f"/v2/orgs/invitations/{invitation['id']}")
    assert response.status_code == 409
    assert response.json()["code"] == 409 and response.json()["message"] == "Conflict"


def reinvite(sandbox, fleet_ref: str, **fields) -> tuple[int, dict, datetime, datetime]:
    """POST the fleet_ref again; status, body and the instants just before and after the call."""
    before = datetime.now(UTC)
    response = sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_ref": fleet_ref, **fields})
    return response.status_code, response.json(), before, datetime.now(UTC)


def test_repeated_fleet_ref_refreshes_with_200(sandbox, subscribed: Receiver) -> None:
    first = invite(sandbox, "manual-ref", expires_in_hours=10, fleet_name="Before")
    status, body, before, after = reinvite(sandbox, "manual-ref", expires_in_hours=20, fleet_name="After")
    assert status == 200 and body["id"] == first["id"] and body["status"] == "active"
    assert body["expires_in_hours"] == 20 and body["fleet_name"] == "After"
    lifetime = timedelta(hours=20) / SPEED  # expires_in_hours from now, scaled by --speed
    assert before + lifetime <= datetime.fromisoformat(body["expires_at"]) <= after + lifetime
    assert body["created_at"] == first["created_at"]


def test_refreshing_an_accepted_invitation_renews_its_tokens(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "manual-tok")
    accepted = sandbox.admin("POST", f"/invitations/{invitation['id']}/accept").json()
    status, refreshed, before, after = reinvite(sandbox, "manual-tok", expires_in_hours=5)
    assert status == 200 and refreshed["id"] == invitation["id"] and refreshed["status"] == "accepted"
    assert refreshed["pre_registration_access_token"] != accepted["pre_registration_access_token"]
    assert refreshed["pre_registration_refresh_token"] != accepted["pre_registration_refresh_token"]
    lifetime = timedelta(hours=5) / SPEED
    assert before + lifetime <= datetime.fromisoformat(refreshed["expires_at"]) <= after + lifetime


def test_refreshing_a_declined_invitation_makes_it_active_again(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "manual-no")
    declined = sandbox.admin("POST", f"/invitations/{invitation['id']}/decline", json={"decline_reason": "no"})
    assert declined.json()["declined_at"] and declined.json()["decline_reason"] == "no"
    status, refreshed, _before, _after = reinvite(sandbox, "manual-no")
    assert status == 200 and refreshed["id"] == invitation["id"] and refreshed["status"] == "active"
    assert refreshed["declined_at"] is None and refreshed["decline_reason"] is None
    read = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{invitation['id']}").json()
    assert (read["status"], read["declined_at"], read["decline_reason"]) == ("active", None, None)
    assert sandbox.admin("POST", f"/invitations/{invitation['id']}/accept").status_code == 200  # usable again


@pytest.mark.parametrize("end", ["expire", "delete"])
def test_an_expired_or_deleted_invitation_gives_way_to_a_new_one(sandbox, subscribed: Receiver, end: str) -> None:
    invitation = invite(sandbox, f"manual-{end}")
    if end == "expire":
        sandbox.admin("POST", f"/invitations/{invitation['id']}/expire").raise_for_status()
    else:
        assert sandbox.api("DELETE", f"/v2/orgs/invitations/{invitation['id']}").status_code == 204
    status, body, _before, _after = reinvite(sandbox, f"manual-{end}")
    assert status == 201 and body["id"] != invitation["id"] and body["status"] == "active"
    old = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{invitation['id']}").json()
    assert old["status"] == ("expired" if end == "expire" else "deleted")


@pytest.mark.parametrize("knob", ["emit", "skip"])
def test_invitation_created_on_refresh_is_a_variation(sandbox, subscribed: Receiver, knob: str) -> None:
    sandbox.variations(invitation_created_on_refresh=knob)
    invitation = invite(sandbox, "manual-again")
    status, _body, _before, _after = reinvite(sandbox, "manual-again")
    assert status == 200
    sandbox.wait_idle()  # the refresh published whatever it publishes before answering
    created = [r for r in records(subscribed, "invitation.created") if r["id"] == invitation["id"]]
    assert len(created) == (2 if knob == "emit" else 1)


def test_decline_once_declines_then_onboards_after_a_refresh(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "decline-once-1")
    subscribed.wait_for_events("invitation.declined")
    sandbox.wait_idle()
    assert "invitation.accepted" not in event_names(subscribed)
    status, refreshed, _before, _after = reinvite(sandbox, "decline-once-1")
    assert status == 200 and refreshed["id"] == invitation["id"] and refreshed["status"] == "active"
    fleet_id = wait_connected(sandbox, subscribed, invitation["id"])
    names = event_names(subscribed)
    assert names.count("invitation.declined") == 1
    assert names.index("invitation.declined") < names.index("invitation.accepted")
    final = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{invitation['id']}").json()
    assert final["status"] == "accepted" and final["fleet_id"] == fleet_id


def test_expire_once_lets_its_first_invitation_expire_then_onboards_with_a_new_one(
    sandbox, subscribed: Receiver
) -> None:
    first = invite(sandbox, "expire-once-1", expires_in_hours=1)  # one second at speed 3600
    subscribed.wait_for_events("invitation.expired")
    assert event_names(subscribed) == ["invitation.created", "invitation.expired"]  # it never acted
    status, second, _before, _after = reinvite(sandbox, "expire-once-1")
    assert status == 201 and second["id"] != first["id"]
    fleet_id = wait_connected(sandbox, subscribed, second["id"])
    accepted = [r["id"] for r in records(subscribed, "invitation.accepted")]
    assert accepted == [second["id"]] and fleet_id
    assert sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{first['id']}").json()["status"] == "expired"


def test_decline_declines_again_after_a_refresh(sandbox, subscribed: Receiver) -> None:
    """The plain decline- scenario, unlike decline-once-, runs again and declines again."""
    invitation = invite(sandbox, "decline-2")
    subscribed.wait_for_events("invitation.declined")
    assert reinvite(sandbox, "decline-2")[0] == 200
    subscribed.wait_for(lambda r: len(records(r, "invitation.declined")) == 2)
    assert {r["id"] for r in records(subscribed, "invitation.declined")} == {invitation["id"]}


def test_each_step_by_hand_through_the_admin_api(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "manual-1")
    invitation_id = invitation["id"]
    assert sandbox.admin("POST", f"/invitations/{invitation_id}/view").status_code == 200
    accepted = sandbox.admin("POST", f"/invitations/{invitation_id}/accept").json()
    assert accepted["status"] == "accepted"
    subscribed.wait_for_events("fleet_connection.created")
    detail = sandbox.admin("GET", f"/invitations/{invitation_id}").json()
    connection_id = detail["sandbox"]["connection_id"]
    assert detail["sandbox"]["scenario"] == "manual" and len(detail["sandbox"]["schedules"]) == 2

    assert sandbox.admin("POST", f"/connections/{connection_id}/stale").json()["status"] == "stale"
    subscribed.wait_for_events("connection.staled")
    assert sandbox.admin("POST", f"/connections/{connection_id}/reauthenticate").json()["status"] == "active"

    schedule_id = detail["sandbox"]["schedules"][0]["id"]
    failed = sandbox.admin("POST", f"/connections/{connection_id}/fail-executions", json={"schedule_id": schedule_id})
    assert failed.json()["schedule"]["consecutive_error_count"] == 1
    assert sandbox.admin("POST", f"/schedules/{schedule_id}/deactivate").json()["status"] == "inactive"
    subscribed.wait_for_events("execution.failed", "schedule.deactivated")

    other = invite(sandbox, "manual-2")
    declined = sandbox.admin("POST", f"/invitations/{other['id']}/decline", json={"decline_reason": "no thanks"})
    assert declined.json()["decline_reason"] == "no thanks"
    third = invite(sandbox, "manual-3")
    assert sandbox.admin("POST", f"/invitations/{third['id']}/expire").json()["status"] == "expired"
    subscribed.wait_for_events("invitation.declined", "invitation.expired")
    assert sandbox.admin("POST", f"/invitations/{third['id']}/accept").status_code == 409
    assert sandbox.admin("POST", "/invitations/00000000-0000-0000-0000-000000000000/view").status_code == 404


def test_fleet_side_accept_and_decline_endpoints(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "manual-fleet", fleet_name="Acme")
    # The fleet side calls these without a partner token (optionally authenticated in Catena).
    response = sandbox.http.post(
        f"{sandbox.base_url}/v2/orgs/invitations/{invitation['id']}/accept", json={"fleet_name": "Acme Hauling"}
    )
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    subscribed.wait_for_events("fleet_connection.created")
    fleet_id = response.json()["fleet_id"]
    assert sandbox.api("GET", f"/v2/orgs/fleets/{fleet_id}").json()["name"] == "Acme Hauling"

    other = invite(sandbox, "manual-fleet-2")
    declined = sandbox.http.post(
        f"{sandbox.base_url}/v2/orgs/invitations/{other['id']}/decline", json={"decline_reason": "later"}
    )
    assert declined.status_code == 200 and declined.json()["decline_reason"] == "later"
    refreshed = sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_ref": "manual-fleet-2"})
    assert refreshed.status_code == 200 and refreshed.json()["status"] == "active"


def test_stale_connection_then_reauthentication(sandbox, subscribed: Receiver) -> None:
    invite(sandbox, "stale-1")
    subscribed.wait_for_events("connection.staled")
    staled = records(subscribed, "connection.staled")[0]
    assert staled["status"] == "stale"
    names = event_names(subscribed)
    assert names.index("fleet_connection.created") < names.index("connection.staled")
    connection = sandbox.api("GET", f"/v2/integrations/connections/{staled['id']}").json()
    assert connection["status"] == "stale"
    sandbox.admin("POST", f"/connections/{staled['id']}/reauthenticate").raise_for_status()
    assert sandbox.api("GET", f"/v2/integrations/connections/{staled['id']}").json()["status"] == "active"


def test_failing_schedule_deactivates_and_activate_brings_it_back(sandbox, subscribed: Receiver) -> None:
    invite(sandbox, "failing-1")
    subscribed.wait_for_events("schedule.deactivated")
    deactivated = records(subscribed, "schedule.deactivated")[0]
    failures = records(subscribed, "execution.failed")
    assert deactivated["status"] == "inactive"
    assert len(failures) == deactivated["consecutive_error_threshold"]
    assert {f["schedule_id"] for f in failures} == {deactivated["id"]}
    connection_id, schedule_id = deactivated["connection_id"], deactivated["id"]
    path = f"/v2/integrations/connections/{connection_id}/schedules/{schedule_id}"
    assert sandbox.api("GET", path).json()["status"] == "inactive"

    activated = sandbox.api("POST", path + "/activate")
    assert activated.status_code == 200
    assert activated.json()["status"] == "active" and activated.json()["consecutive_error_count"] == 0
    sandbox.wait_idle()
    executions = sandbox.api("GET", path + "/executions").json()["items"]
    assert executions[0]["status"] == "success"
    assert sum(e["status"] == "failed" for e in executions) == len(failures)
    assert sandbox.api("GET", path).json()["status"] == "active"
    assert len(records(subscribed, "execution.failed")) == len(failures)  # the failures stopped


def test_activate_schedules_reactivates_every_eligible_schedule(sandbox, subscribed: Receiver) -> None:
    invitation = invite(sandbox, "manual-act")
    sandbox.admin("POST", f"/invitations/{invitation['id']}/accept").raise_for_status()
    subscribed.wait_for_events("fleet_connection.created")
    detail = sandbox.admin("GET", f"/invitations/{invitation['id']}").json()["sandbox"]
    for schedule in detail["schedules"]:
        sandbox.admin("POST", f"/schedules/{schedule['id']}/deactivate").raise_for_status()
    path = f"/v2/integrations/connections/{detail['connection_id']}/schedules"
    reactivated = sandbox.api("POST", path + "/activate-schedules").json()
    assert sorted(s["status"] for s in reactivated) == ["active", "active"]
    assert all(s["status"] == "active" for s in sandbox.api("GET", path).json()["items"])

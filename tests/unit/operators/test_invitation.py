"""CatenaCreateInvitationOperator against a faked Catena (requests_mock) and a real inbox."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from catena_airflow.inbox import Stage
from catena_airflow.operators.invitation import CatenaCreateInvitationOperator, CatenaMagicLink
from tests.unit.airflow_layer import CATENA_URL, invitation_json, page

INVITATIONS = f"{CATENA_URL}/v2/orgs/invitations"
WEBHOOKS = f"{CATENA_URL}/v2/notifications/webhooks"
CONTEXT = {"dag_run": SimpleNamespace(dag_id="catena_fleet_onboarding", run_id="manual__1")}


def operator(**kwargs) -> CatenaCreateInvitationOperator:
    return CatenaCreateInvitationOperator(task_id="create_invitation", **kwargs)


def test_every_invitation_field_is_templated():
    fields = set(CatenaCreateInvitationOperator.template_fields)
    assert {"fleet_ref", "fleet_name", "fleet_email", "success_redirect_url", "callback_url", "limit_tsps"} <= fields
    assert "expires_in_hours" in fields and "invitation" in fields
    with pytest.raises(TypeError):
        CatenaCreateInvitationOperator("create_invitation")  # keyword-only


def test_creates_returns_xcom_without_tokens_and_registers_the_onboarding(catena_api, inbox):
    created = invitation_json(pre_registration_access_token="AT-secret", pre_registration_refresh_token="RT-secret")
    route = catena_api.post(INVITATIONS, json=created, status_code=201)
    result = operator(
        fleet_ref="acme-1",
        fleet_name="Acme One",
        expires_in_hours=48,
        limit_tsps=["samsara"],
        invitation={"fleet_email": "ops@acmefleet.com"},
    ).execute(CONTEXT)
    assert route.last_request.json() == {
        "fleet_ref": "acme-1",
        "fleet_name": "Acme One",
        "fleet_email": "ops@acmefleet.com",
        "expires_in_hours": 48,
        "limit_tsps": ["samsara"],
    }
    assert set(result) == {"id", "magic_link", "expires_at", "fleet_ref", "status", "refreshed"}
    assert "secret" not in json.dumps(result)
    assert (result["id"], result["status"], result["refreshed"]) == (created["id"], "active", False)
    onboarding = inbox.get_onboarding(created["id"])
    assert (onboarding.fleet_ref, onboarding.magic_link) == ("acme-1", created["magic_link"])
    assert (onboarding.dag_id, onboarding.run_id) == ("catena_fleet_onboarding", "manual__1")


def test_retry_refreshes_the_same_invitation(catena_api, inbox):
    created = invitation_json()
    catena_api.post(INVITATIONS, [{"json": created, "status_code": 201}, {"json": created, "status_code": 200}])
    first = operator(fleet_ref="acme-1").execute(CONTEXT)
    second = operator(fleet_ref="acme-1").execute(CONTEXT)
    assert first["id"] == second["id"]
    assert second["refreshed"] is True
    assert inbox.count_onboardings() == 1


def test_native_rendered_numbers_are_sent_as_text(catena_api, inbox):
    route = catena_api.post(INVITATIONS, json=invitation_json(fleet_ref="123"), status_code=201)
    operator(fleet_ref=123).execute(CONTEXT)
    assert route.last_request.json() == {"fleet_ref": "123"}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"fleet_ref": "bad!ref"}, "fleet_ref"),
        ({"fleet_ref": "ok", "expires_in_hours": 999}, "expires_in_hours"),
        ({"fleet_ref": "ok", "fleet_email": "not-an-email"}, "fleet_email"),
        ({"fleet_ref": "ok", "success_redirect_url": "ftp://x"}, "success_redirect_url"),
        ({"fleet_name": "No ref"}, "fleet_ref"),
    ],
)
def test_bad_input_fails_naming_the_field_before_any_call(catena_api, inbox, fields, named):
    route = catena_api.post(INVITATIONS, json=invitation_json(), status_code=201)
    with pytest.raises(AirflowFailException, match=named):
        operator(**fields).execute(CONTEXT)
    assert not route.called


def test_unknown_field_in_the_mapping_is_refused(catena_api, inbox):
    with pytest.raises(AirflowFailException, match=r"unknown invitation field.*fleet_colour"):
        operator(invitation={"fleet_ref": "a", "fleet_colour": "red"}).execute(CONTEXT)


def catena_subscription(event_name: str, fleet_ref: str, url: str, secret: str = "*****") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "url": url,
        "event_name": event_name,
        "status": "active",
        "secret": secret,
        "filters": {"fleet_refs": [fleet_ref], "fleet_ids": None},
    }


def test_the_secrets_of_catenas_callback_subscriptions_are_kept_read_or_rotated(catena_api, inbox):
    """Catena makes subscriptions of its own for a callback_url: their secrets must reach the inbox."""
    url = "https://partner.test/catena/webhooks"
    readable = catena_subscription("invitation.accepted", "acme-1", "https://partner.test/*****")
    masked = catena_subscription("fleet_connection.created", "acme-1", "https://partner.test/*****")
    other_fleet = catena_subscription("invitation.accepted", "acme-2", "https://partner.test/*****")
    org_wide = {**catena_subscription("invitation.accepted", "x", url), "filters": None}
    catena_api.post(INVITATIONS, json=invitation_json(callback_url=url), status_code=201)
    catena_api.get(WEBHOOKS, json=page([readable, masked, other_fleet, org_wide]))
    catena_api.get(f"{WEBHOOKS}/{readable['id']}", json={**readable, "secret": "readable-secret-1"})
    catena_api.get(f"{WEBHOOKS}/{masked['id']}", json=masked)
    rotation = catena_api.patch(f"{WEBHOOKS}/{masked['id']}", json=masked)

    operator(fleet_ref="acme-1", callback_url=url).execute(CONTEXT)

    assert inbox.subscription_secret(readable["id"]) == "readable-secret-1"
    assert inbox.subscription_secret(masked["id"]) == rotation.last_request.json()["secret"]
    # Catena signed with its own secret before the rotation: those deliveries get 503 for a while, not 401.
    assert inbox.previous_secret_unknown(masked["id"]) and not inbox.previous_secret_unknown(readable["id"])
    assert {row["webhook_id"] for row in inbox.subscriptions()} == {readable["id"], masked["id"]}


def test_a_refreshed_invitation_of_a_declined_fleet_starts_a_new_attempt(catena_api, inbox):
    first = invitation_json(fleet_ref="acme-1")
    inbox.register_invitation(first)
    inbox.record_observation(first["id"], invitation_status="declined", decline_reason="not now")
    assert inbox.get_onboarding(first["id"]).stage is Stage.DECLINED
    catena_api.post(INVITATIONS, json={**first, "status": "active"}, status_code=200)  # refreshed, active again

    result = operator(fleet_ref="acme-1").execute(CONTEXT)

    ob = inbox.get_onboarding(first["id"])
    assert (result["refreshed"], ob.stage, ob.attempt) == (True, Stage.INVITED, 2)
    assert [a.stage for a in ob.previous_attempts] == [Stage.DECLINED]


def test_magic_link_reads_the_returned_invitation(monkeypatch):
    link = CatenaMagicLink()
    assert link.name == "Catena magic link"
    seen = {}

    def get_value(*, ti_key, key):
        seen.update(ti_key=ti_key, key=key)
        return {"magic_link": "https://connect.catena.test/?invite=1"}

    # XCom lives in Airflow's metadata DB, outside these unit tests: stand in for its read.
    monkeypatch.setattr("catena_airflow.operators.invitation.XCom.get_value", get_value)
    assert link.get_link(operator(fleet_ref="a"), ti_key="key-1") == "https://connect.catena.test/?invite=1"
    assert seen == {"ti_key": "key-1", "key": "return_value"}
    assert CatenaCreateInvitationOperator.operator_extra_links[0].name == link.name

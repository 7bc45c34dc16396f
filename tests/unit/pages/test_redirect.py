"""Fleet redirect landing pages on a real inbox."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from catena_airflow.pages.redirect import create_redirect_router
from tests.unit.airflow_layer import invitation_json


@pytest.fixture
def client(inbox):
    app = FastAPI()
    app.include_router(create_redirect_router(lambda: inbox))
    return TestClient(app)


@pytest.mark.parametrize("kind", ["success", "failure"])
def test_records_the_redirect_and_thanks_the_fleet(client, inbox, kind):
    invitation = invitation_json(fleet_ref="acme 1")
    inbox.register_invitation(invitation)
    response = client.get(f"/fleet/{kind}", params={"invitation_id": invitation["id"], "fleet_ref": "acme 1"})
    assert response.status_code == 200
    assert "acme 1" in response.text
    onboarding = inbox.get_onboarding(invitation["id"])
    assert f"redirect_{kind}" in onboarding.redirects
    assert onboarding.stage.value == "invited"  # informational: the workflow does not move


def test_unknown_invitation_is_thanked_but_not_recorded(client, inbox):
    unknown = str(uuid.uuid4())
    response = client.get("/fleet/success", params={"invitation_id": unknown, "fleet_ref": "acme"})
    assert response.status_code == 200
    assert inbox.get_onboarding(unknown) is None


@pytest.mark.parametrize(
    "params",
    [
        {"invitation_id": "not-a-uuid", "fleet_ref": "acme"},
        {"invitation_id": str(uuid.uuid4()), "fleet_ref": "<script>alert(1)</script>"},
        {"fleet_ref": "acme"},
        {},
    ],
)
def test_invalid_parameters_get_a_400_page(client, params):
    response = client.get("/fleet/success", params=params)
    assert response.status_code == 400
    assert "<script>" not in response.text


def test_the_plugin_app_serves_the_pages_without_login(inbox):
    from catena_airflow.app import create_plugin_app

    invitation = invitation_json()
    inbox.register_invitation(invitation)  # the pages find it through [catena] inbox_url (this test's inbox)
    response = TestClient(create_plugin_app()).get(
        "/fleet/failure", params={"invitation_id": invitation["id"], "fleet_ref": "acme-1"}
    )
    assert response.status_code == 200
    assert "redirect_failure" in inbox.get_onboarding(invitation["id"]).redirects

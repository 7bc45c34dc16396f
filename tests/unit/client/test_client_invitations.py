from __future__ import annotations

import pytest
from pydantic import ValidationError

from catena_airflow.client import Invitation, InvitationCreate
from catena_airflow.client.models import InvitationStatus
from tests.unit.client import payloads
from tests.unit.client.conftest import ACCESS_TOKEN, API, api_calls, query_of

URL = f"{API}/v2/orgs/invitations"


@pytest.mark.parametrize(("status", "refreshed"), [(201, False), (200, True)])
def test_create_invitation(client, requests_mock, status, refreshed):
    mock = requests_mock.post(URL, status_code=status, json=payloads.invitation())
    invitation = client.create_invitation(
        fleet_ref="FLEET-42",
        fleet_name="Acme Freight",
        success_redirect_url="https://partner.example/onboarded",
        limit_tsps=["samsara", "geotab"],
        expires_in_hours=48,
    )
    assert isinstance(invitation, Invitation)
    assert invitation.status is InvitationStatus.ACTIVE
    assert invitation.magic_link.endswith(payloads.INVITATION_ID)
    assert invitation.refreshed is refreshed
    request = mock.last_request
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "fleet_ref": "FLEET-42",
        "fleet_name": "Acme Freight",
        "success_redirect_url": "https://partner.example/onboarded",
        "limit_tsps": ["samsara", "geotab"],
        "expires_in_hours": 48,
    }


def test_create_invitation_from_a_model(client, requests_mock):
    mock = requests_mock.post(URL, status_code=201, json=payloads.invitation())
    client.create_invitation(InvitationCreate(fleet_ref="FLEET-42", fleet_country_code="usa"))
    assert mock.last_request.json() == {"fleet_ref": "FLEET-42", "fleet_country_code": "USA"}


def test_create_invitation_refuses_bad_input_before_any_request(client, requests_mock):
    with pytest.raises(ValidationError, match="fleet_ref"):
        client.create_invitation(fleet_ref="FLEET/42")
    with pytest.raises(TypeError, match="not both"):
        client.create_invitation(InvitationCreate(fleet_ref="F"), fleet_name="x")
    assert requests_mock.request_history == []


def test_get_invitation(client, requests_mock):
    requests_mock.get(f"{URL}/{payloads.INVITATION_ID}", json=payloads.accepted_invitation())
    invitation = client.get_invitation(payloads.INVITATION_ID)
    assert invitation.status is InvitationStatus.ACCEPTED
    assert invitation.fleet_id == payloads.FLEET_ID
    assert invitation.pre_registration_access_token.get_secret_value() == payloads.PRE_REGISTRATION_ACCESS


def test_path_ids_are_encoded(client, requests_mock):
    mock = requests_mock.get(f"{URL}/..%2Fpartners", json=payloads.invitation())
    client.get_invitation("../partners")
    assert mock.call_count == 1
    with pytest.raises(ValueError, match="empty"):
        client.get_invitation("")


def test_list_invitations(client, requests_mock):
    requests_mock.get(URL, json=payloads.page([payloads.invitation(), payloads.invitation(id="other")], total=2))
    invitations = client.list_invitations(fleet_ref="FLEET 42", size=50).all()
    assert [i.id for i in invitations] == [payloads.INVITATION_ID, "other"]
    assert query_of(api_calls(requests_mock)[0]) == {"fleet_ref": ["FLEET 42"], "size": ["50"]}


def test_list_invitations_without_filters_sends_no_query(client, requests_mock):
    requests_mock.get(URL, json=payloads.page([]))
    client.list_invitations().all()
    assert query_of(api_calls(requests_mock)[0]) == {}


def test_delete_invitation(client, requests_mock):
    mock = requests_mock.delete(f"{URL}/{payloads.INVITATION_ID}", status_code=204)
    assert client.delete_invitation(payloads.INVITATION_ID) is None
    assert mock.call_count == 1
    assert mock.last_request.body is None

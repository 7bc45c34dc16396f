"""Share agreements and fleets (orgs service)."""

from __future__ import annotations

import pytest

from catena_airflow.client import CatenaClient
from catena_airflow.client.models import ShareAgreementStatus, ShareLevel
from tests.unit.client import payloads
from tests.unit.client.conftest import API, AUTH, api_calls, query_of


@pytest.mark.parametrize("spelling", ["share-agreements", "share_agreements"])
def test_share_agreement_path_spelling_is_configurable(requests_mock, token_endpoint, spelling):
    client = CatenaClient(
        client_id="c", client_secret="s3cr3t", api_url=API, auth_url=AUTH, share_agreements_path=spelling
    )
    requests_mock.get(f"{API}/v2/orgs/{spelling}", json=payloads.page([payloads.share_agreement()], total=1))
    requests_mock.get(f"{API}/v2/orgs/{spelling}/sa1", json=payloads.share_agreement(id="sa1", status="paused"))
    (agreement,) = client.list_share_agreements()
    assert agreement.scopes["vehicle"] is ShareLevel.READ_WRITE
    assert client.get_share_agreement("sa1").status is ShareAgreementStatus.PAUSED


def test_list_share_agreements_filters(client, requests_mock):
    requests_mock.get(f"{API}/v2/orgs/share-agreements", json=payloads.page([payloads.share_agreement()], total=1))
    client.list_share_agreements(fleet_id=payloads.FLEET_ID, fleet_ref="FLEET-42", status="active", size=5).all()
    assert query_of(api_calls(requests_mock)[0]) == {
        "fleet_id": [payloads.FLEET_ID],
        "fleet_ref": ["FLEET-42"],
        "share_agreement_status": ["active"],
        "size": ["5"],
    }


def test_share_agreements_of_the_newest_spec_have_no_invitation_id(client, requests_mock):
    newest = {k: v for k, v in payloads.share_agreement(fleet_ref=None).items() if k != "invitation_id"}
    requests_mock.get(f"{API}/v2/orgs/share-agreements", json=payloads.page([newest], total=1))
    (agreement,) = client.list_share_agreements()
    assert (agreement.invitation_id, agreement.fleet_ref, agreement.fleet_id) == (None, None, payloads.FLEET_ID)


def test_list_fleets_repeats_array_keys(client, requests_mock):
    requests_mock.get(f"{API}/v2/orgs/fleets", json=payloads.page([payloads.fleet()]))
    (fleet,) = client.list_fleets(fleet_refs=["FLEET-42", "FLEET 43"])
    assert fleet.invitation_id == payloads.INVITATION_ID  # observed extra, modelled
    request = api_calls(requests_mock)[0]
    assert request.url.count("fleet_refs=") == 2
    assert query_of(request) == {"fleet_refs": ["FLEET-42", "FLEET 43"]}


def test_get_fleet(client, requests_mock):
    requests_mock.get(f"{API}/v2/orgs/fleets/{payloads.FLEET_ID}", json=payloads.fleet())
    fleet = client.get_fleet(payloads.FLEET_ID)
    assert fleet.name == f"Fleet {payloads.INVITATION_ID}" and fleet.websites == ["https://placeholder.example"]


def test_array_filters_are_capped_at_100(client, requests_mock):
    with pytest.raises(ValueError, match="at most 100"):
        client.list_fleets(fleet_refs=[f"F{i}" for i in range(101)])
    assert requests_mock.request_history == []


def test_client_wide_page_size(requests_mock, token_endpoint):
    client = CatenaClient(client_id="c", client_secret="s3cr3t", api_url=API + "/", auth_url=AUTH, page_size=1000)
    requests_mock.get(f"{API}/v2/orgs/fleets", json=payloads.page([]))
    client.list_fleets().all()
    assert query_of(api_calls(requests_mock)[0]) == {"size": ["1000"]}
    with pytest.raises(ValueError, match="page_size"):
        CatenaClient(client_id="c", client_secret="s", api_url=API, auth_url=AUTH, page_size=1001)

"""The REST surface: token endpoint, error bodies, cursor pagination, share agreements, fleets, telematics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.sandbox.helpers import invite, records, subscribe
from tests.integration.sandbox.receiver import Receiver

pytestmark = pytest.mark.integration


def onboard(sandbox, receiver: Receiver, fleet_ref: str) -> dict:
    """Run the happy path for one fleet and return its fleet_connection.created record."""
    subscribe(sandbox, receiver, "fleet_connection.created")
    invite(sandbox, fleet_ref)
    receiver.wait_for(lambda r: any(e["fleet_id"] for e in records(r, "fleet_connection.created")))
    return records(receiver, "fleet_connection.created")[-1]


def test_token_endpoint(sandbox) -> None:
    ok = sandbox.http.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox-secret"},
    )
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"].count(".") == 2
    bad = sandbox.http.post(
        sandbox.token_url, data={"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "nope"}
    )
    assert bad.status_code == 401
    assert bad.json() == {
        "error": "invalid_client",
        "error_description": "Invalid client or Invalid client credentials",
    }
    basic = sandbox.http.post(
        sandbox.token_url, data={"grant_type": "client_credentials"}, auth=("sandbox", "sandbox-secret")
    )
    assert basic.status_code == 200  # Keycloak's client_secret_basic
    grant = sandbox.http.post(sandbox.token_url, data={"grant_type": "password", "client_id": "sandbox"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_missing_bad_and_revoked_tokens_get_401(sandbox) -> None:
    url = sandbox.base_url + "/v2/orgs/invitations"
    missing = sandbox.http.get(url)
    assert missing.status_code == 401 and missing.json()["code"] == 401 and missing.json()["message"] == "Unauthorized"
    assert sandbox.http.get(url, headers={"Authorization": "Bearer abc.def.ghi"}).status_code == 401
    token = sandbox.http.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox-secret"},
    ).json()["access_token"]
    assert sandbox.http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoke = sandbox.token_url.replace("/token", "/revoke")
    assert (
        sandbox.http.post(revoke, data={"token": token, "client_id": "sandbox", "client_secret": "sandbox-secret"})
    ).status_code == 200
    assert sandbox.http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_expired_token_gets_401(tuned_sandbox) -> None:
    token = tuned_sandbox.token()
    time.sleep(1.1)  # let the one-second token lapse
    url = tuned_sandbox.base_url + "/v2/orgs/invitations"
    response = tuned_sandbox.http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["detail"] == "Token expired"


def test_error_bodies(sandbox) -> None:
    not_found = sandbox.api("GET", "/v2/notifications/webhooks/019d0000-0000-7000-8000-000000000000")
    assert not_found.status_code == 404 and not_found.json()["message"] == "Not Found"
    unknown = sandbox.http.get(sandbox.base_url + "/v2/orgs/invitations/019d0000-0000-7000-8000-000000000000")
    assert unknown.status_code == 404
    method = sandbox.api("PUT", "/v2/orgs/invitations")
    assert method.status_code == 405 and method.json()["code"] == 405
    invalid = sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_ref": "bad/ref!", "expires_in_hours": 0})
    assert invalid.status_code == 422
    paths = {d["path"] for d in invalid.json()["detail"]}
    assert paths == {"body.fleet_ref", "body.expires_in_hours"}
    assert sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_name": "x"}).status_code == 422


def test_invitation_create_accepts_old_field_names_and_reads_without_auth(sandbox) -> None:
    created = invite(
        sandbox,
        "manual-old",
        partner_provided_fleet_name="Old Names Inc",
        partner_provided_fleet_email="ops@old.example.com",
        limit_tsps=["geotab"],
    )
    read = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{created['id']}").json()
    assert read["fleet_name"] == "Old Names Inc" and read["partner_provided_fleet_name"] == "Old Names Inc"
    assert read["fleet_email"] == "ops@old.example.com" and read["limit_tsps"] == ["geotab"]
    listed = sandbox.api("GET", "/v2/orgs/invitations", params={"fleet_ref": "manual-old"}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == created["id"]


def test_cursor_pagination_walks_every_page(sandbox, receiver: Receiver) -> None:
    link = onboard(sandbox, receiver, "PAGE-1")
    end = datetime.now(UTC)  # a closed window: rows arriving while the test pages do not change the set
    window = {"from_datetime": (end - timedelta(hours=2)).isoformat(), "to_datetime": end.isoformat()}
    params = {"only_latest": "false", "fleet_ids": link["fleet_id"], "size": 50, **window}
    first = sandbox.api("GET", "/v2/telematics/vehicle-locations", params=params).json()
    total, seen, page = first["total"], [], first
    assert total > 100  # two hours of one-minute points for several vehicles
    while True:
        seen.extend(item["id"] for item in page["items"])
        if not page["next_page"]:
            break
        page = sandbox.api(
            "GET", "/v2/telematics/vehicle-locations", params={**params, "cursor": page["next_page"]}
        ).json()
        assert page["previous_page"]
    assert len(seen) == total == len(set(seen))
    again = sandbox.api("GET", "/v2/telematics/vehicle-locations", params={**params, "cursor": first["current_page"]})
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in first["items"]]
    assert sandbox.api("GET", "/v2/telematics/vehicle-locations", params={"cursor": "garbage"}).status_code == 400
    assert sandbox.api("GET", "/v2/telematics/vehicle-locations", params={"size": 0}).status_code == 422
    assert sandbox.api("GET", "/v2/telematics/vehicle-locations", params={"size": 1001}).status_code == 422


def test_telematics_is_deterministic_per_fleet(sandbox, receiver: Receiver) -> None:
    link = onboard(sandbox, receiver, "DATA-1")
    params = {"fleet_refs": "DATA-1"}
    vehicles = sandbox.api("GET", "/v2/telematics/vehicles", params=params).json()
    assert 3 <= vehicles["total"] <= 8 and vehicles["total"] == len(vehicles["items"])
    assert {v["connection_id"] for v in vehicles["items"]} == {link["connection_id"]}
    assert sandbox.api("GET", "/v2/telematics/vehicles", params=params).json() == vehicles
    one = vehicles["items"][0]
    assert sandbox.api("GET", f"/v2/telematics/vehicles/{one['id']}").json() == one
    latest = sandbox.api("GET", "/v2/telematics/vehicle-locations", params=params).json()
    assert latest["total"] == vehicles["total"]  # only_latest defaults to true: one point per vehicle
    assert {p["vehicle_id"] for p in latest["items"]} == {v["id"] for v in vehicles["items"]}
    point = latest["items"][0]
    assert point["location"]["type"] == "Point" and len(point["location"]["coordinates"]) == 2
    assert sandbox.api("GET", "/v2/telematics/vehicles", params={"fleet_refs": "nobody"}).json()["total"] == 0


def test_share_agreements_under_both_spellings(sandbox, receiver: Receiver) -> None:
    link = onboard(sandbox, receiver, "SHARE-1")
    subscribe(sandbox, receiver, "share_agreement.updated")
    hyphen = sandbox.api("GET", "/v2/orgs/share-agreements", params={"fleet_id": link["fleet_id"]}).json()
    underscore = sandbox.api("GET", "/v2/orgs/share_agreements", params={"fleet_id": link["fleet_id"]}).json()
    assert hyphen == underscore and hyphen["total"] == 1
    agreement = hyphen["items"][0]
    assert agreement["scopes"]["vehicle_location"] == "read_write"
    for spelling in ("share-agreements", "share_agreements"):
        assert sandbox.api("GET", f"/v2/orgs/{spelling}/{agreement['id']}").json()["id"] == agreement["id"]
    assert sandbox.api("POST", f"/v2/orgs/share-agreements/{agreement['id']}/pause").json()["status"] == "paused"
    assert sandbox.api("POST", f"/v2/orgs/share_agreements/{agreement['id']}/activate").json()["status"] == "active"
    patched = sandbox.api("PATCH", f"/v2/orgs/share-agreements/{agreement['id']}", json={"fleet_ref": "SHARE-1b"})
    assert patched.json()["fleet_ref"] == "SHARE-1b"
    assert sandbox.api("POST", f"/v2/orgs/share-agreements/{agreement['id']}/cancel").json()["status"] == "cancelled"
    assert sandbox.api("POST", f"/v2/orgs/share-agreements/{agreement['id']}/activate").status_code == 409
    receiver.wait_for(lambda r: len(records(r, "share_agreement.updated")) == 4)
    # Deliveries are concurrent, so they may arrive in any order: order by when Catena produced them.
    updates = sorted(receiver.events("share_agreement.updated"), key=lambda e: e["timestamp"])
    assert [e["data"][0]["status"] for e in updates] == ["paused", "active", "active", "cancelled"]


def test_fleets_visible_with_an_active_share_agreement(sandbox, receiver: Receiver) -> None:
    link = onboard(sandbox, receiver, "FLEET-1")
    fleets = sandbox.api("GET", "/v2/orgs/fleets", params={"fleet_refs": "FLEET-1"}).json()
    assert fleets["total"] == 1 and fleets["items"][0]["id"] == link["fleet_id"]
    params = {"fleet_id": link["fleet_id"]}
    agreement = sandbox.api("GET", "/v2/orgs/share-agreements", params=params).json()["items"][0]
    sandbox.api("POST", f"/v2/orgs/share-agreements/{agreement['id']}/pause")
    assert sandbox.api("GET", "/v2/orgs/fleets").json()["total"] == 0
    assert sandbox.api("GET", f"/v2/orgs/fleets/{link['fleet_id']}").status_code == 404


def test_connection_schedules_executions_and_freshness(sandbox, receiver: Receiver) -> None:
    link = onboard(sandbox, receiver, "CONN-1")
    base = f"/v2/integrations/connections/{link['connection_id']}"
    schedules = sandbox.api("GET", base + "/schedules").json()["items"]
    assert {s["resource"] for s in schedules} == {"vehicle", "vehicle_location"}
    one = schedules[0]
    assert sandbox.api("GET", f"{base}/schedules/{one['id']}").json() == one
    executions = sandbox.api("GET", f"{base}/schedules/{one['id']}/executions").json()["items"]
    assert [e["status"] for e in executions] == ["success"]
    freshness = sandbox.api("GET", "/v2/integrations/connections/data-freshness", params={"fleet_refs": "CONN-1"})
    assert {row["resource"] for row in freshness.json()} == {"vehicle", "vehicle_location"}
    assert sandbox.api("GET", base + "/schedules/019d0000-0000-7000-8000-000000000000").status_code == 404


def test_tsp_catalogue_needs_no_token(sandbox) -> None:
    tsps = sandbox.http.get(sandbox.base_url + "/v2/orgs/tsps").json()
    assert "samsara" in {t["source_name"] for t in tsps}
    one = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/tsps/{tsps[0]['id']}").json()
    assert one == tsps[0]


def test_connect_page_views_accepts_and_redirects(sandbox, receiver: Receiver) -> None:
    subscribe(sandbox, receiver, "invitation.*")
    invitation = invite(sandbox, "manual-web", success_redirect_url="https://partner.example.com/done?x=1")
    page = sandbox.http.get(invitation["magic_link"])
    assert page.status_code == 200 and "Accept" in page.text
    receiver.wait_for_events("invitation.viewed")
    accepted = sandbox.http.post(f"{sandbox.base_url}/connect/{invitation['id']}/accept", allow_redirects=False)
    assert accepted.status_code == 303
    target = urlsplit(accepted.headers["location"])
    assert target.netloc == "partner.example.com"
    assert parse_qs(target.query) == {"x": ["1"], "invitation_id": [invitation["id"]], "fleet_ref": ["manual-web"]}
    receiver.wait_for_events("invitation.accepted")


def test_connect_page_reauthenticates_a_stale_connection(sandbox, receiver: Receiver) -> None:
    subscribe(sandbox, receiver, "connection.staled")
    invitation = invite(sandbox, "stale-web")
    receiver.wait_for_events("connection.staled")
    page = sandbox.http.get(invitation["magic_link"])
    assert "Re-connect" in page.text
    done = sandbox.http.post(f"{sandbox.base_url}/connect/{invitation['id']}/reauthenticate", allow_redirects=False)
    assert done.status_code == 200 and "Reconnected" in done.text
    connection_id = records(receiver, "connection.staled")[0]["id"]
    assert sandbox.api("GET", f"/v2/integrations/connections/{connection_id}").json()["status"] == "active"

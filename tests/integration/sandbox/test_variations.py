"""Variations: each fleet meets one case of every knob (REST and events agree); pins; a solvable world."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from tests.integration.sandbox.helpers import ONBOARDING_FAMILIES, fleet_id_of, invite, subscribe, wait_connected
from tests.integration.sandbox.receiver import Receiver

pytestmark = pytest.mark.integration

SA = "/v2/orgs/share-agreements"
REFS = [f"VAR-{n}" for n in range(1, 9)]  # under ``vary`` these eight meet every value of every knob


def onboard_all(sandbox, receiver: Receiver, refs: list[str]) -> dict[str, dict[str, Any]]:
    """Onboard each fleet with a callback_url too (a second subscription per event); what a partner sees."""
    subscribe(sandbox, receiver, *ONBOARDING_FAMILIES)
    callback = receiver.url.replace("/hooks", "/callback")
    invitations = {ref: invite(sandbox, ref, callback_url=callback) for ref in refs}
    seen = {}
    for ref, invitation in invitations.items():
        fleet_id = wait_connected(sandbox, receiver, invitation["id"])
        seen[ref] = {"invitation": invitation, "fleet_id": fleet_id}
    sandbox.wait_idle()
    return seen


def deliveries_of(receiver: Receiver, event_name: str, record_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, envelope) of every delivery of that event about that record, to any subscription."""
    return [
        (d.path, d.envelope)
        for d in receiver.deliveries
        if d.envelope and d.envelope["event_name"] == event_name and d.envelope["data"][0]["id"] == record_id
    ]


def test_admin_api_pins_and_clears_knobs(sandbox) -> None:
    settings = sandbox.admin("GET", "/variations").json()
    assert set(settings.values()) == {"vary"} and "share_agreement_invitation_id" in settings
    pinned = sandbox.admin("PUT", "/variations", json={"share_agreement_invitation_id": "present"}).json()
    assert pinned["share_agreement_invitation_id"] == "present" and pinned["connection_fleet_ref"] == "vary"
    resolved = sandbox.admin("GET", "/variations", params={"fleet_ref": "ANY-1"}).json()
    assert resolved["share_agreement_invitation_id"] == "present" and "vary" not in resolved.values()
    for bad in ({"no_such_knob": "set"}, {"connection_fleet_ref": "sometimes"}):
        response = sandbox.admin("PUT", "/variations", json=bad)
        assert response.status_code == 400 and response.json()["code"] == 400
    assert set(sandbox.admin("DELETE", "/variations").json().values()) == {"vary"}


def test_start_up_pins_survive_reset(sandbox_factory) -> None:
    pinned = sandbox_factory("--variation", "connection_fleet_ref=null")
    try:
        assert pinned.admin("GET", "/variations").json()["connection_fleet_ref"] == "null"
        pinned.admin("PUT", "/variations", json={"connection_fleet_ref": "set"}).raise_for_status()
        pinned.reset()  # back to the start-up flags, as faults are
        assert pinned.admin("GET", "/variations").json()["connection_fleet_ref"] == "null"
    finally:
        sandbox_factory.stop(pinned)


def test_each_fleet_meets_its_own_case_in_rest_and_events_alike(sandbox, receiver: Receiver) -> None:
    seen = onboard_all(sandbox, receiver, REFS)
    met: dict[str, set[str]] = defaultdict(set)
    for ref, fleet in seen.items():
        case = sandbox.admin("GET", "/variations", params={"fleet_ref": ref}).json()
        invitation_id, fleet_id = fleet["invitation"]["id"], fleet["fleet_id"]
        for knob, value in case.items():
            met[knob].add(value)

        [agreement] = [a for a in sandbox.api("GET", SA).json()["items"] if a["fleet_id"] == fleet_id]
        events = deliveries_of(receiver, "share_agreement.created", agreement["id"])
        records = [envelope["data"][0] for _path, envelope in events]
        assert len(records) == 2  # the org-wide subscription and the callback one
        for shown in (agreement, *records):
            expected_id = {"present": invitation_id, "null": None}.get(case["share_agreement_invitation_id"], "-")
            assert shown.get("invitation_id", "-") == expected_id, (ref, shown)
            assert shown["fleet_ref"] == (ref if case["share_agreement_fleet_ref"] == "set" else None), ref
        for record in records:
            nulls = {name for name, level in record["scopes"].items() if level is None}
            assert bool(nulls) is (case["share_agreement_event_scopes"] == "with_nulls"), ref
        assert None not in agreement["scopes"].values()  # REST levels stay ShareLevelEnum values

        for event_name in ("invitation.accepted", "fleet_connection.created"):
            record_id = invitation_id if event_name == "invitation.accepted" else None
            if record_id is None:
                record_id = next(
                    e["data"][0]["id"] for e in receiver.events(event_name) if e["data"][0]["fleet_id"] == fleet_id
                )
            pair = deliveries_of(receiver, event_name, record_id)
            assert sorted(path for path, _ in pair) == ["/callback", "/hooks"], ref
            ids = {envelope["id"] for _path, envelope in pair}
            assert len(ids) == (1 if case["event_id_across_subscriptions"] == "same" else 2), (ref, event_name)

        accepted = deliveries_of(receiver, "invitation.accepted", invitation_id)[0][1]["data"][0]
        assert accepted["fleet_id"] == (fleet_id if case["invitation_fleet_id"] == "set" else None), ref
        assert accepted["fleet_ref"] == (ref if case["invitation_fleet_ref"] == "set" else None), ref
        created = deliveries_of(receiver, "invitation.created", invitation_id)[0][1]["data"][0]
        assert created["fleet_id"] is None  # no fleet before acceptance, whatever the variation
        assert created["fleet_ref"] == (ref if case["invitation_fleet_ref"] == "set" else None), ref

        [connection] = sandbox.api("GET", "/v2/integrations/connections", params={"fleet_ids": fleet_id}).json()[
            "items"
        ]
        assert connection["fleet_ref"] == (ref if case["connection_fleet_ref"] == "set" else None), ref
        # The spec's own filter still finds the connection by the fleet's ref, whatever the read shows.
        by_ref = sandbox.api("GET", "/v2/integrations/connections", params={"fleet_refs": ref}).json()["items"]
        assert [c["id"] for c in by_ref] == [connection["id"]]
    assert all(len(values) >= 2 for values in met.values()), met  # the eight fleets met every case
    assert met["share_agreement_invitation_id"] == {"absent", "present", "null"}


def test_the_world_stays_solvable_through_documented_fields(sandbox, receiver: Receiver) -> None:
    """With the share agreement's fleet_ref null, the invitation (REST) maps it: fleet_id -> invitation -> ref."""
    pins = {"share_agreement_fleet_ref": "null", "share_agreement_invitation_id": "absent"}
    pins |= {"invitation_fleet_id": "null", "invitation_fleet_ref": "null", "connection_fleet_ref": "null"}
    sandbox.admin("PUT", "/variations", json=pins).raise_for_status()
    seen = onboard_all(sandbox, receiver, ["SOLVE-1", "SOLVE-2"])
    agreements = sandbox.api("GET", SA).json()["items"]
    assert {a["fleet_ref"] for a in agreements} == {None} and all("invitation_id" not in a for a in agreements)
    assert sandbox.api("GET", SA, params={"fleet_ref": "SOLVE-1"}).json()["total"] == 0  # nothing to filter on
    for ref, fleet in seen.items():
        read = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{fleet['invitation']['id']}").json()
        assert read["fleet_ref"] == ref and read["status"] == "accepted"
        assert [a["id"] for a in agreements if a["fleet_id"] == read["fleet_id"]]  # maps to exactly its agreement
        assert read["fleet_id"] == fleet_id_of(sandbox, fleet["invitation"]["id"]) == fleet["fleet_id"]


def test_pinning_a_knob_applies_to_every_fleet(sandbox, receiver: Receiver) -> None:
    sandbox.admin("PUT", "/variations", json={"share_agreement_invitation_id": "present"}).raise_for_status()
    seen = onboard_all(sandbox, receiver, REFS[:3])
    by_fleet = {a["fleet_id"]: a for a in sandbox.api("GET", SA).json()["items"]}
    for fleet in seen.values():
        assert by_fleet[fleet["fleet_id"]]["invitation_id"] == fleet["invitation"]["id"]
    sandbox.admin("PUT", "/variations", json={"share_agreement_invitation_id": "absent"}).raise_for_status()
    assert all("invitation_id" not in a for a in sandbox.api("GET", SA).json()["items"])

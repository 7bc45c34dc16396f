"""An invitation's callback_url makes real webhook subscriptions, with a secret of their own."""

from __future__ import annotations

import re

import pytest

from tests.integration.sandbox.helpers import (
    OPERATION_FAMILIES,
    invite,
    learn_readable_secrets,
    records,
    subscribe,
    wait_connected,
    webhooks,
)
from tests.integration.sandbox.receiver import Receiver

pytestmark = pytest.mark.integration

WEBHOOKS = "/v2/notifications/webhooks"
CALLBACK_EVENTS = sorted(
    [f"invitation.{a}" for a in ("created", "sent", "viewed", "accepted", "declined", "expired", "deleted")]
    + [f"share_agreement.{a}" for a in ("created", "updated", "deleted")]
    + ["connection.created", "connection.staled", "fleet_connection.created"]
)
MASK = "*****"


def callback_ids(sandbox, invitation_id: str) -> list[str]:
    detail = sandbox.admin("GET", f"/invitations/{invitation_id}").json()
    return detail["sandbox"]["callback_webhook_ids"]


def pin(sandbox, **knobs: str) -> None:
    sandbox.admin("PUT", "/variations", json=knobs).raise_for_status()


def test_one_real_subscription_per_onboarding_event(sandbox, receiver: Receiver) -> None:
    pin(sandbox, callback_secret_read="clear")
    invitation = invite(sandbox, "ACME-9", callback_url=receiver.url)
    ids = callback_ids(sandbox, invitation["id"])
    listed = {w["id"]: w for w in webhooks(sandbox)}
    assert set(ids) == set(listed)  # listed like any subscription, and nothing else was made
    assert sorted(w["event_name"] for w in listed.values()) == CALLBACK_EVENTS
    for webhook_id, read in listed.items():
        assert read["filters"] == {"fleet_ids": None, "fleet_refs": ["ACME-9"]} and read["status"] == "active"
        assert sandbox.api("GET", f"{WEBHOOKS}/{webhook_id}").json() == read
    [secret] = {w["secret"] for w in listed.values()}  # one generated secret for the invitation's subscriptions
    assert re.fullmatch(r"[A-Za-z0-9]{16}", secret)
    learn_readable_secrets(sandbox, receiver)

    wait_connected(sandbox, receiver, invitation["id"])
    sandbox.wait_idle()
    assert {d.envelope["event_name"] for d in receiver.deliveries} >= {
        "invitation.created",
        "invitation.accepted",
        "share_agreement.created",
        "connection.created",  # no fleet_ref in its record: matched by the fleet it concerns
        "fleet_connection.created",
    }
    for delivery in receiver.deliveries:
        webhook_id = delivery.headers["x-webhook-id"]
        assert webhook_id == delivery.envelope["webhook_id"] and webhook_id in listed
        assert listed[webhook_id]["event_name"] == delivery.envelope["event_name"]  # its own subscription's id
        assert delivery.signature_valid  # with the subscription's own secret


def test_other_fleets_do_not_reach_a_callback(sandbox, receiver: Receiver) -> None:
    subscribe(sandbox, receiver, "fleet_connection.created", url=receiver.url.replace("/hooks", "/all"))
    mine = invite(sandbox, "ACME-10", callback_url=receiver.url)
    other = invite(sandbox, "ACME-11")
    mine_fleet = wait_connected(sandbox, receiver, mine["id"])
    wait_connected(sandbox, receiver, other["id"])  # every event of the other fleet is published by now
    sandbox.wait_idle()
    callbacks = [d.envelope for d in receiver.deliveries if d.path == "/hooks"]
    assert {e["event_name"] for e in callbacks} >= {"invitation.accepted", "connection.created"}
    for envelope in callbacks:
        record = envelope["data"][0]
        assert record["id"] == mine["id"] or record["fleet_id"] == mine_fleet, envelope


def test_a_masked_callback_secret_is_replaced_by_patch(sandbox, receiver: Receiver) -> None:
    pin(sandbox, callback_secret_read="masked")
    invitation = invite(sandbox, "manual-cb", callback_url=receiver.url)
    ids = callback_ids(sandbox, invitation["id"])
    assert {w["secret"] for w in webhooks(sandbox)} == {MASK}
    receiver.wait_for_events("invitation.created")
    assert not receiver.deliveries[0].signature_valid  # signed, but with a secret no read showed
    for n, webhook_id in enumerate(ids):
        secret = f"partner-chosen-{n:02d}"
        patched = sandbox.api("PATCH", f"{WEBHOOKS}/{webhook_id}", json={"secret": secret})
        assert patched.status_code == 200 and patched.json()["secret"] == MASK
        receiver.secrets[webhook_id] = secret
    sandbox.admin("POST", f"/invitations/{invitation['id']}/accept").raise_for_status()
    wait_connected(sandbox, receiver, invitation["id"])
    sandbox.wait_idle()
    later = [d for d in receiver.deliveries if d.envelope["event_name"] != "invitation.created"]
    assert {d.envelope["event_name"] for d in later} >= {"invitation.accepted", "fleet_connection.created"}
    assert all(d.signature_valid for d in later)


def test_secret_reads_vary_per_fleet(sandbox) -> None:
    cases: dict[str, str] = {}
    for n in range(20):  # deterministic: the first refs that meet each case
        ref = f"manual-sec-{n}"
        case = sandbox.admin("GET", "/variations", params={"fleet_ref": ref}).json()["callback_secret_read"]
        cases.setdefault(case, ref)
    assert set(cases) == {"clear", "masked"}
    for case, ref in cases.items():
        invitation = invite(sandbox, ref, callback_url=f"https://partner.example.com/cb/{ref}")
        reads = [sandbox.api("GET", f"{WEBHOOKS}/{i}").json() for i in callback_ids(sandbox, invitation["id"])]
        shown = {r["secret"] for r in reads}
        assert (shown == {MASK}) is (case == "masked"), (ref, shown)


def test_operational_events_reach_a_fleet_refs_filter(sandbox, receiver: Receiver) -> None:
    """Catena knows which fleet an event concerns: records without a fleet_ref still match its filter."""
    filters = {"fleet_refs": ["failing-mine"]}
    subscribe(sandbox, receiver, "connection.*", "fleet_connection.*", *OPERATION_FAMILIES, filters=filters)
    subscribe(sandbox, receiver, "schedule.deactivated", url=receiver.url.replace("/hooks", "/all"))
    mine, _other = invite(sandbox, "failing-mine"), invite(sandbox, "failing-other")
    # Both fleets fail until deactivated: once both deactivations arrived, every event of theirs is published.
    receiver.wait_for(lambda r: sum(d.path == "/all" for d in r.deliveries) >= 2)
    sandbox.wait_idle()
    fleet_id = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{mine['id']}").json()["fleet_id"]
    filtered = [d.envelope for d in receiver.deliveries if d.path == "/hooks"]
    names = {e["event_name"] for e in filtered}
    assert names == {"connection.created", "fleet_connection.created", "execution.failed", "schedule.deactivated"}
    [connection] = [e["data"][0] for e in filtered if e["event_name"] == "connection.created"]
    assert connection["fleet_id"] == fleet_id
    for envelope in filtered:  # schedule records name only their connection
        record = envelope["data"][0]
        assert record.get("fleet_id") == fleet_id or record["connection_id"] == connection["id"], envelope


def test_a_new_invitation_for_the_fleet_reuses_its_callback_subscriptions(sandbox, receiver: Receiver) -> None:
    first = invite(sandbox, "manual-again", callback_url=receiver.url)
    ids = callback_ids(sandbox, first["id"])
    sandbox.admin("POST", f"/invitations/{first['id']}/expire").raise_for_status()
    second = sandbox.api(
        "POST", "/v2/orgs/invitations", json={"fleet_ref": "manual-again", "callback_url": receiver.url}
    )
    assert second.status_code == 201 and second.json()["id"] != first["id"]
    assert callback_ids(sandbox, second.json()["id"]) == []  # the same (event, url, filters) already exist
    assert sorted(w["id"] for w in webhooks(sandbox)) == sorted(ids)
    sandbox.admin("POST", f"/invitations/{second.json()['id']}/accept").raise_for_status()
    receiver.wait_for(lambda r: any(x["id"] == second.json()["id"] for x in records(r, "invitation.accepted")))
    accepted = [d for d in receiver.deliveries if d.envelope["event_name"] == "invitation.accepted"]
    assert {d.headers["x-webhook-id"] for d in accepted} <= set(ids)

"""The fleet-connected trigger against a real inbox; Catena's REST API faked at the HTTP boundary."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from airflow.triggers.base import TriggerEvent

from catena_airflow.inbox import changes
from catena_airflow.triggers.fleet_connected import CatenaFleetConnectedTrigger
from catena_airflow.triggers.shared_poller import SharedOnboardingPoller
from tests.unit.airflow_layer import CATENA_URL, invitation_json, onboard, page, webhook

CLASSPATH = "catena_airflow.triggers.fleet_connected.CatenaFleetConnectedTrigger"


def trigger(invitation_id: str, **kwargs) -> CatenaFleetConnectedTrigger:
    return CatenaFleetConnectedTrigger(invitation_id=invitation_id, poll_interval=0.02, **kwargs)


async def first_event(trig: CatenaFleetConnectedTrigger, timeout: float = 30) -> TriggerEvent:
    gen = trig.run()
    try:
        return await asyncio.wait_for(gen.asend(None), timeout)
    finally:
        await gen.aclose()


def test_serialize_round_trip_has_no_secrets():
    trig = CatenaFleetConnectedTrigger(
        invitation_id="inv-1",
        inbox_conn_id="my_inbox",
        catena_conn_id="my_catena",
        poll_interval=2.0,
        reconcile_interval=60.0,
    )
    classpath, kwargs = trig.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "invitation_id": "inv-1",
        "inbox_conn_id": "my_inbox",
        "catena_conn_id": "my_catena",
        "poll_interval": 2.0,
        "reconcile_interval": 60.0,
    }
    assert CatenaFleetConnectedTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.asyncio
async def test_wakes_on_the_webhooks_with_fleet_connection_and_scopes(inbox):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    task = asyncio.ensure_future(first_event(trigger(invitation["id"])))
    await asyncio.sleep(0.1)
    assert not task.done()  # still waiting: invited only
    await asyncio.to_thread(onboard, inbox, invitation, "fleet-1", "conn-1")
    event = await task
    assert event.payload["status"] == "connected"
    assert event.payload["source"] == "webhook"
    assert event.payload["fleet_id"] == "fleet-1"
    assert event.payload["connection_ids"] == ["conn-1"]
    assert event.payload["share_agreement_scopes"] == {"vehicle": "read", "vehicle_location": "read"}


@pytest.mark.asyncio
async def test_logs_each_stage_as_it_happens(inbox, capsys):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    onboard(inbox, invitation, "fleet-1", "conn-1")
    await first_event(trigger(invitation["id"]))
    text = capsys.readouterr().out  # Airflow's structlog writes task and trigger logs to stdout
    order = ["invitation accepted", "share agreement signed", "telematics provider connected", "fleet connected"]
    positions = [text.index(stage) for stage in order]
    assert positions == sorted(positions)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("event_name", "fields", "status", "message"),
    [
        (
            "invitation.declined",
            {"status": "declined", "decline_reason": "We use another provider"},
            "declined",
            "We use another provider",
        ),
        ("invitation.expired", {"status": "expired"}, "expired", "was expired"),
        ("invitation.deleted", {"status": "deleted"}, "deleted", "was deleted"),
    ],
)
async def test_failures_end_the_wait_with_a_message(inbox, event_name, fields, status, message):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    webhook(inbox, event_name, **{**invitation, **fields})
    event = await first_event(trigger(invitation["id"]))
    assert event.payload["status"] == status
    assert message in event.payload["message"]


@pytest.mark.asyncio
async def test_a_lost_webhook_is_recovered_by_reconciliation(inbox, catena_api):
    invitation = invitation_json(status="accepted", fleet_id="fleet-9")
    inbox.register_invitation({**invitation, "status": "active", "fleet_id": None})
    catena_api.get(f"{CATENA_URL}/v2/orgs/invitations/{invitation['id']}", json=invitation)
    share = {
        "id": str(uuid.uuid4()),
        "fleet_id": "fleet-9",
        "invitation_id": invitation["id"],
        "status": "active",
        "scopes": {"vehicle": "read"},
    }
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([share]))
    connections = catena_api.get(
        f"{CATENA_URL}/v2/integrations/connections",
        json=page([{"id": "conn-9", "fleet_id": "fleet-9", "status": "active"}]),
    )
    event = await first_event(trigger(invitation["id"], reconcile_interval=0.05))
    assert event.payload["status"] == "connected"
    assert event.payload["source"] == "reconciliation"
    assert event.payload["connection_ids"] == ["conn-9"]
    assert connections.last_request.qs["fleet_ids"] == ["fleet-9"]
    assert inbox.get_onboarding(invitation["id"]).is_connected  # what it learnt is in the inbox


@pytest.mark.asyncio
async def test_all_waiting_triggers_share_one_inbox_query(inbox, monkeypatch):
    invitations = [invitation_json(fleet_ref=f"acme-{i}") for i in range(3)]
    for invitation in invitations:
        inbox.register_invitation(invitation)
    queried: list[frozenset[str]] = []  # the ids each of the poller's reads served
    real = changes.read_onboarding_changes

    def counting(store, *, watched, **kwargs):
        queried.append(frozenset(watched))
        return real(store, watched=watched, **kwargs)

    monkeypatch.setattr(changes, "read_onboarding_changes", counting)
    tasks = [asyncio.ensure_future(first_event(trigger(inv["id"]))) for inv in invitations]
    while not any(len(ids) == 3 for ids in queried):
        await asyncio.sleep(0.02)
    for i, invitation in enumerate(invitations):
        await asyncio.to_thread(onboard, inbox, invitation, f"fleet-{i}", f"conn-{i}")
    events = await asyncio.gather(*tasks)
    assert {e.payload["fleet_id"] for e in events} == {"fleet-0", "fleet-1", "fleet-2"}
    # One query per poll served every waiting trigger: never one query per trigger.
    polls_while_all_waited = [ids for ids in queried if len(ids) == 3]
    assert polls_while_all_waited
    assert all(len(ids) in (1, 2, 3) for ids in queried)
    # Every trigger unsubscribed when it fired, so the poller stops at its next turn.
    assert all(not poller.subscriptions for poller in SharedOnboardingPoller._registry.values())


@pytest.mark.asyncio
async def test_unknown_invitation_keeps_waiting(inbox):
    task = asyncio.ensure_future(first_event(trigger(str(uuid.uuid4()))))
    await asyncio.sleep(0.2)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_an_inbox_outage_is_retried_at_the_next_poll(inbox, monkeypatch):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    onboard(inbox, invitation, "fleet-1", "conn-1")
    real, calls = changes.read_onboarding_changes, []

    def flaky(store, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise ConnectionError("inbox database restarting")
        return real(store, **kwargs)

    monkeypatch.setattr(changes, "read_onboarding_changes", flaky)
    event = await first_event(trigger(invitation["id"]))
    assert event.payload["status"] == "connected"
    assert len(calls) >= 2


@pytest.mark.asyncio
async def test_reconciliation_also_ends_the_wait_on_a_declined_invitation(inbox, catena_api):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    declined = {**invitation, "status": "declined", "decline_reason": "Wrong company"}
    catena_api.get(f"{CATENA_URL}/v2/orgs/invitations/{invitation['id']}", json=declined)
    event = await first_event(trigger(invitation["id"], reconcile_interval=0.05))
    assert (event.payload["status"], event.payload["source"]) == ("declined", "reconciliation")
    assert "Wrong company" in event.payload["message"]


@pytest.mark.asyncio
async def test_an_event_is_never_yielded_before_the_minimum_deferral(inbox, monkeypatch):
    monkeypatch.setattr(CatenaFleetConnectedTrigger, "min_deferral_seconds", 0.5)
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    onboard(inbox, invitation, "fleet-1", "conn-1")  # already connected: would fire at the first poll
    loop = asyncio.get_running_loop()
    started = loop.time()
    event = await first_event(trigger(invitation["id"]))
    assert event.payload["status"] == "connected"
    assert loop.time() - started >= 0.5  # a lower bound (Airflow 3.3.2 resume race), not a speed check

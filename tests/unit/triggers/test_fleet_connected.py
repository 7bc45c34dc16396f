"""The fleet-connected trigger against a real inbox; Catena's REST API faked at the HTTP boundary."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from airflow.triggers.base import TriggerEvent

from catena_airflow.hooks.catena import CatenaHook
from catena_airflow.inbox import Stage
from catena_airflow.triggers.fleet_connected import CatenaFleetConnectedTrigger
from catena_airflow.waiting.reconcile import reconcile_onboarding
from catena_airflow.waiting.shared_poller import SharedOnboardingPoller
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


def share_agreement(fleet_id: str, fleet_ref: str | None, status: str = "active") -> dict:
    """A ``ShareAgreementRead`` of the newest spec (no ``invitation_id``)."""
    return {
        "id": str(uuid.uuid4()),
        "fleet_id": fleet_id,
        "partner_id": str(uuid.uuid4()),
        "fleet_ref": fleet_ref,
        "status": status,
        "effective_date": "2026-03-01T12:00:00Z",
        "expiration_date": None,
        "scopes": {"vehicle": "read"},
    }


def connection(conn_id: str, fleet_id: str, status: str = "active") -> dict:
    return {"id": conn_id, "fleet_id": fleet_id, "status": status}


def catena_ignoring_filters(catena_api, invitation: dict, agreements: list[dict], connections: list[dict]):
    """A Catena that answers list calls with every item, whatever the filters (as a server that does not
    know them would). Returns the connections mock."""
    catena_api.get(f"{CATENA_URL}/v2/orgs/invitations/{invitation['id']}", json=invitation)
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page(agreements))
    return catena_api.get(f"{CATENA_URL}/v2/integrations/connections", json=page(connections))


OTHER_FLEETS = [share_agreement("fleet-other", "someone-else"), share_agreement("fleet-anon", None)]
OTHER_CONNECTIONS = [connection("conn-other", "fleet-other"), connection("conn-anon", "fleet-anon")]


@pytest.mark.asyncio
@pytest.mark.parametrize("invitation_names_its_fleet", [True, False])
async def test_a_lost_webhook_is_recovered_by_reconciliation(inbox, catena_api, invitation_names_its_fleet):
    invitation = invitation_json(status="accepted", fleet_id="fleet-9" if invitation_names_its_fleet else None)
    inbox.register_invitation({**invitation, "status": "active", "fleet_id": None})
    connections = catena_ignoring_filters(
        catena_api,
        invitation,
        [*OTHER_FLEETS, share_agreement("fleet-9", invitation["fleet_ref"])],
        [*OTHER_CONNECTIONS, connection("conn-9", "fleet-9")],
    )
    event = await first_event(trigger(invitation["id"], reconcile_interval=0.05))
    assert event.payload["status"] == "connected"
    assert event.payload["source"] == "reconciliation"
    assert (event.payload["fleet_id"], event.payload["connection_ids"]) == ("fleet-9", ["conn-9"])
    assert connections.last_request.qs["fleet_ids"] == ["fleet-9"]
    assert inbox.get_onboarding(invitation["id"]).is_connected  # what it learnt is in the inbox


@pytest.mark.asyncio
async def test_reconciliation_never_connects_another_fleet_to_an_invitation_not_yet_accepted(inbox, catena_api):
    """A Catena that ignores the filters returns every agreement: none of them is this invitation's."""
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    catena_ignoring_filters(catena_api, invitation, OTHER_FLEETS, OTHER_CONNECTIONS)

    result = await asyncio.to_thread(reconcile_onboarding, CatenaHook().get_conn(), inbox, invitation["id"])

    assert (result.connected, result.fleet_id, result.onboarding.stage) == (False, None, Stage.INVITED)
    assert inbox.get_onboarding(invitation["id"]).fleet_id is None


@pytest.mark.asyncio
async def test_reconciliation_of_an_accepted_invitation_takes_only_its_own_fleet_refs_agreement(inbox, catena_api):
    invitation = invitation_json(status="accepted")  # REST does not name the fleet (nullable)
    inbox.register_invitation({**invitation, "status": "active"})
    catena_ignoring_filters(catena_api, invitation, OTHER_FLEETS, OTHER_CONNECTIONS)

    result = await asyncio.to_thread(reconcile_onboarding, CatenaHook().get_conn(), inbox, invitation["id"])

    assert (result.connected, result.fleet_id, result.onboarding.stage) == (False, None, Stage.ACCEPTED)


@pytest.mark.asyncio
async def test_a_fleet_shared_under_another_fleet_ref_is_not_linked(inbox, catena_api):
    invitation = invitation_json(status="accepted", fleet_id="fleet-other")
    inbox.register_invitation({**invitation, "status": "active", "fleet_id": None})
    catena_ignoring_filters(catena_api, invitation, OTHER_FLEETS, OTHER_CONNECTIONS)

    result = await asyncio.to_thread(reconcile_onboarding, CatenaHook().get_conn(), inbox, invitation["id"])

    assert (result.connected, result.fleet_id) == (False, None)


@pytest.mark.asyncio
async def test_an_accepted_invitation_no_event_linked_is_reconciled_long_before_the_interval(inbox, catena_api):
    """invitation.accepted without fleet_id and a share agreement without fleet_ref: only REST links them."""
    invitation = invitation_json(status="accepted", fleet_id="fleet-9")
    inbox.register_invitation({**invitation, "status": "active", "fleet_id": None})
    webhook(inbox, "invitation.accepted", **{**invitation, "fleet_id": None})
    catena_ignoring_filters(
        catena_api, invitation, [share_agreement("fleet-9", None)], [connection("conn-9", "fleet-9")]
    )
    event = await first_event(trigger(invitation["id"], reconcile_interval=3600), timeout=30)
    assert (event.payload["status"], event.payload["fleet_id"]) == ("connected", "fleet-9")


@pytest.mark.asyncio
async def test_all_waiting_triggers_share_one_inbox_query(inbox, monkeypatch):
    invitations = [invitation_json(fleet_ref=f"acme-{i}") for i in range(3)]
    for invitation in invitations:
        inbox.register_invitation(invitation)
    queried: list[frozenset[str]] = []  # the ids each of the poller's reads served
    real = inbox.read_onboarding_changes

    def counting(*, watched, **kwargs):
        queried.append(frozenset(watched))
        return real(watched=watched, **kwargs)

    monkeypatch.setattr(inbox, "read_onboarding_changes", counting)
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
    real, calls = inbox.read_onboarding_changes, []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise ConnectionError("inbox database restarting")
        return real(**kwargs)

    monkeypatch.setattr(inbox, "read_onboarding_changes", flaky)
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

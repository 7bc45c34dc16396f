"""The shared poller's reads: incremental after the first, newcomers in full, a periodic full re-read."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import pytest

from catena_airflow.hooks.adapters import catena_client
from catena_airflow.inbox import Stage
from catena_airflow.inbox.schema import onboardings
from catena_airflow.waiting.shared_poller import SharedOnboardingPoller, Subscription
from tests.unit.airflow_layer import CATENA_URL, invitation_json, onboard, page
from tests.unit.waiting.eventually import until


class Reads:
    """Records each of the poller's reads: the ids it read in full and the rows it handed over."""

    def __init__(self, monkeypatch, store) -> None:
        self.log: list[tuple[frozenset[str], frozenset[str]]] = []
        real = store.read_onboarding_changes

        def recording(**kwargs):
            found = real(**kwargs)
            self.log.append((frozenset(kwargs.get("fresh", ())), frozenset(found.rows)))
            return found

        monkeypatch.setattr(store, "read_onboarding_changes", recording)


@pytest.fixture
def reads(monkeypatch, inbox) -> Reads:
    return Reads(monkeypatch, inbox)


@pytest.fixture(autouse=True)
def no_full_reads(monkeypatch):
    """Only the first read is full unless a test says otherwise."""
    monkeypatch.setattr(SharedOnboardingPoller, "full_read_interval", 3600.0)


def subscribe(poller: SharedOnboardingPoller, invitation_id: str, poll_interval: float = 0.02):
    return poller.subscribe(invitation_id, poll_interval=poll_interval, reconcile_interval=3600, catena_conn_id=None)


def stage_of(sub: Subscription) -> Stage | None:
    return None if sub.latest is None else sub.latest.stage


@pytest.mark.asyncio
async def test_after_the_first_read_a_poll_hands_over_only_changed_rows(inbox, reads):
    invitations = [invitation_json(fleet_ref=f"acme-{i}") for i in range(4)]
    for invitation in invitations:
        inbox.register_invitation(invitation)
    poller = SharedOnboardingPoller.for_store(inbox, lambda conn_id: None)
    async with contextlib.AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(subscribe(poller, inv["id"])) for inv in invitations]
        await until(lambda: all(s.version for s in subs), "every subscriber served")
        settled = len(reads.log)
        await asyncio.to_thread(onboard, inbox, invitations[1], "fleet-1", "conn-1")
        await until(lambda: stage_of(subs[1]) is Stage.CONNECTED, "the change delivered")
        later = reads.log[settled:]
    assert later
    assert all(not fresh for fresh, _ in later)  # nobody new: no row read in full
    assert set().union(*(handed for _, handed in later)) == {invitations[1]["id"]}
    assert [s.version for i, s in enumerate(subs) if i != 1] == [1, 1, 1]


@pytest.mark.asyncio
async def test_a_newcomer_gets_its_row_however_old_it_is(inbox, reads):
    first, old = invitation_json(fleet_ref="acme-1"), invitation_json(fleet_ref="acme-2")
    inbox.register_invitation(first)
    inbox.register_invitation(old)
    with inbox.engine.begin() as conn:  # last changed long before the poller's cursor (and its overlap)
        row = conn.execute(onboardings.select().where(onboardings.c.invitation_id == old["id"])).one()
        conn.execute(
            onboardings.update()
            .where(onboardings.c.invitation_id == old["id"])
            .values(updated_at=row.updated_at - timedelta(days=1))
        )
    poller = SharedOnboardingPoller.for_store(inbox, lambda conn_id: None)
    async with subscribe(poller, first["id"]) as waiting:
        await until(lambda: waiting.version == 1, "the first subscriber served")
        async with subscribe(poller, old["id"]) as newcomer:
            await until(lambda: newcomer.version == 1, "the newcomer served")
            assert stage_of(newcomer) is Stage.INVITED
    assert (frozenset({old["id"]}), frozenset({old["id"]})) in reads.log


@pytest.mark.asyncio
async def test_the_periodic_full_read_catches_what_the_cursor_missed(inbox, reads, monkeypatch):
    monkeypatch.setattr(SharedOnboardingPoller, "full_read_interval", 0.2)
    waiting, done = invitation_json(fleet_ref="acme-1"), invitation_json(fleet_ref="acme-2")
    inbox.register_invitation(waiting)
    inbox.register_invitation(done)
    onboard(inbox, done, "fleet-2", "conn-2")
    poller = SharedOnboardingPoller.for_store(inbox, lambda conn_id: None)
    async with subscribe(poller, waiting["id"]) as sub:
        await until(lambda: sub.version == 1, "served")
        # A change committed with a clock a day behind: older than the cursor minus its overlap.
        with inbox.engine.begin() as conn:
            source = conn.execute(onboardings.select().where(onboardings.c.invitation_id == done["id"])).one()
            conn.execute(
                onboardings.update()
                .where(onboardings.c.invitation_id == waiting["id"])
                .values(state=source.state, stage=source.stage, updated_at=source.updated_at - timedelta(days=1))
            )
        await until(lambda: stage_of(sub) is Stage.CONNECTED, "the full read delivered it")
    assert poller.full_reads >= 2


@pytest.mark.asyncio
async def test_wake_ups_are_coalesced_and_sqlite_has_no_listener(inbox, reads):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    poller = SharedOnboardingPoller.for_store(inbox, lambda conn_id: None)
    async with subscribe(poller, invitation["id"], poll_interval=3600) as sub:
        await until(lambda: sub.version == 1, "served")
        before = len(reads.log)
        for _ in range(20):
            poller.wake()
            await asyncio.sleep(0.01)
        await until(lambda: len(reads.log) > before, "a read after the wake-ups")
        assert len(reads.log) - before < 20
        assert poller.listener is None


@pytest.mark.asyncio
async def test_each_waiter_is_reconciled_once_per_interval_not_once_per_poll(inbox, catena_api):
    """Catena's REST API is faked at the HTTP boundary; its invitation reads count the reconciliations."""
    intervals = {}
    for fleet_ref, interval in (("acme-1", 0.3), ("acme-2", 0.6)):
        invitation = invitation_json(fleet_ref=fleet_ref)  # still invited: the waits go on
        inbox.register_invitation(invitation)
        catena_api.get(f"{CATENA_URL}/v2/orgs/invitations/{invitation['id']}", json=invitation)
        intervals[invitation["id"]] = interval
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([]))

    def reconciliations() -> dict[str, int]:
        paths = [r.path for r in catena_api.request_history]
        return {i: paths.count(f"/v2/orgs/invitations/{i}") for i in intervals}

    poller = SharedOnboardingPoller.for_store(inbox, catena_client)
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        for invitation_id, interval in intervals.items():
            await stack.enter_async_context(
                poller.subscribe(
                    invitation_id, poll_interval=0.01, reconcile_interval=interval, catena_conn_id="catena_default"
                )
            )
        await until(lambda: min(reconciliations().values()) >= 3, "three reconciliations of each waiter")
        counted = reconciliations()
        elapsed = time.monotonic() - started
    # At most one reconciliation per interval since the waiter subscribed (a slow machine only does fewer),
    # however often the inbox was polled (every 10 ms) meanwhile.
    for invitation_id, interval in intervals.items():
        assert counted[invitation_id] <= elapsed / interval, (counted, elapsed)

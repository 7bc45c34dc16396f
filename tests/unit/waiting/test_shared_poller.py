"""The shared poller's reads: incremental after the first, newcomers in full, a periodic full re-read."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from datetime import timedelta

import pytest

from catena_airflow.hooks.adapters import catena_client
from catena_airflow.inbox import InboxStore, Stage
from catena_airflow.inbox.models import Onboarding
from catena_airflow.inbox.schema import onboardings
from catena_airflow.waiting import shared_poller
from catena_airflow.waiting.shared_poller import SharedOnboardingPoller, Subscription
from tests.unit.airflow_layer import CATENA_URL, invitation_json, onboard, page, webhook
from tests.unit.waiting.eventually import until


class Reads:
    """Records each of the poller's reads: the ids it read in full and the rows it handed over."""

    def __init__(self, monkeypatch, store) -> None:
        self.log: list[tuple[frozenset[str], frozenset[str]]] = []
        self.parsed = 0  # rows handed over (an id the inbox does not know comes back as None)
        self.since: list = []  # each read's changed_since
        real = store.read_onboarding_changes

        def recording(**kwargs):
            found = real(**kwargs)
            self.log.append((frozenset(kwargs.get("fresh", ())), frozenset(found.rows)))
            self.since.append(kwargs.get("changed_since"))
            self.parsed += sum(row is not None for row in found.rows.values())
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
    assert reads.since[0] is None  # the first read fetches the subscribed rows, not every row there is
    assert all(since is not None for since in reads.since[1:])
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
async def test_wake_ups_are_coalesced_and_sqlite_has_no_listener(inbox, reads, caplog):
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
    assert "Not listening" not in caplog.text  # SQLite has nothing to LISTEN to: not even tried


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


# --- a subscription on its own ------------------------------------------------------------------------


def subscription(reconcile_interval: float = 60.0, next_reconcile_at: float = 100.0) -> Subscription:
    return Subscription(
        invitation_id="inv-1",
        poll_interval=1.0,
        reconcile_interval=reconcile_interval,
        catena_conn_id=None,
        next_reconcile_at=next_reconcile_at,
    )


def row(stage: Stage, fleet_id: str | None = None) -> Onboarding:
    return Onboarding(invitation_id="inv-1", stage=stage, fleet_id=fleet_id)


async def let_the_loop_run() -> None:
    """A few turns of the event loop: enough for a woken task to finish, none for a timer to fire."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_a_subscriber_is_woken_once_for_each_new_row():
    sub = subscription()
    sub.deliver(None)  # unknown to the inbox: still an answer, the trigger learns there is no row yet
    assert await sub.next_row(0) == (1, None)
    sub.deliver(None)  # the same answer again: nobody is woken
    waiting = asyncio.ensure_future(sub.next_row(1))
    await let_the_loop_run()
    assert not waiting.done()
    invited = row(Stage.INVITED)
    sub.deliver(invited)
    await let_the_loop_run()
    assert waiting.done()
    assert waiting.result() == (2, invited)
    sub.deliver(row(Stage.INVITED))  # equal to the one it has
    assert sub.version == 2
    accepted = row(Stage.ACCEPTED)
    sub.deliver(accepted)
    assert (sub.version, sub.latest) == (3, accepted)


@pytest.mark.asyncio
async def test_waiting_for_a_running_reconciliation_is_bounded():
    sub = subscription()
    await asyncio.wait_for(sub.settled_source_known(), 30)  # none running: at once
    sub.reconciled.clear()  # one runs and never ends: the wait gives up at its bound, without raising
    await asyncio.wait_for(sub.settled_source_known(timeout=0.01), 30)
    assert not sub.reconciled.is_set()


def test_only_an_accepted_invitation_without_a_fleet_needs_one():
    sub = subscription()
    assert not sub.needs_fleet()  # nothing read yet
    for latest, needs in [
        (row(Stage.INVITED), False),
        (row(Stage.ACCEPTED), True),
        (row(Stage.ACCEPTED, "fleet-1"), False),
        (row(Stage.CONNECTED, "fleet-1"), False),
    ]:
        sub.latest = latest
        assert sub.needs_fleet() is needs, latest.stage


def test_a_reconciliation_is_due_at_its_time_or_at_the_fleet_probe():
    sub = subscription(next_reconcile_at=100.0)
    assert not sub.reconcile_due(99.9)
    assert sub.reconcile_due(100.0)
    sub.watch_for_missing_fleet(10.0)  # nothing read yet: no probe
    sub.latest = row(Stage.INVITED)
    sub.watch_for_missing_fleet(10.0)  # not accepted: no probe
    assert sub.fleet_probe_at is None
    sub.latest = row(Stage.ACCEPTED)
    assert not sub.reconcile_due(50.0)  # accepted without a fleet, but not yet watched
    sub.watch_for_missing_fleet(10.0)  # first seen so at 10: probed 2 s later
    sub.watch_for_missing_fleet(11.0)  # seen again: the probe keeps its time
    assert sub.fleet_probe_at == 12.0
    assert not sub.reconcile_due(11.9)
    assert sub.reconcile_due(12.0)
    sub.latest = row(Stage.ACCEPTED, "fleet-1")  # a webhook linked it meanwhile: no probe needed
    assert not sub.reconcile_due(12.0)

    short = subscription(reconcile_interval=1.5)
    short.latest = row(Stage.ACCEPTED)
    short.watch_for_missing_fleet(10.0)
    assert short.fleet_probe_at == 11.5  # never later than the reconcile interval


def test_while_the_fleet_is_missing_the_probes_double_up_to_the_reconcile_interval():
    sub = subscription(reconcile_interval=10.0)
    sub.latest = row(Stage.ACCEPTED)
    now, gaps = 0.0, []
    for _ in range(4):
        sub.reconciling(now)
        assert sub.next_reconcile_at == now + 10.0
        gaps.append(sub.fleet_probe_at - now)
        now = sub.fleet_probe_at
    assert gaps == [4.0, 8.0, 10.0, 10.0]
    sub.latest = row(Stage.ACCEPTED, "fleet-1")
    sub.reconciling(now)
    assert sub.fleet_probe_at is None
    assert sub.next_reconcile_at == now + 10.0


# --- the poller: its registry, counters and listener ---------------------------------------------------


def no_client(conn_id: str | None) -> None:
    raise AssertionError("no reconciliation expected")


def test_each_event_loop_has_one_poller_per_inbox(inbox, tmp_path, monkeypatch):
    monkeypatch.setattr(SharedOnboardingPoller, "_registry", {})
    other = InboxStore(f"sqlite:///{tmp_path / 'other.db'}")

    async def pollers() -> tuple[SharedOnboardingPoller, ...]:
        return (
            SharedOnboardingPoller.for_store(inbox, no_client),
            SharedOnboardingPoller.for_store(inbox, no_client),
            SharedOnboardingPoller.for_store(other, no_client),
        )

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        mine, again, others = first.run_until_complete(pollers())
        in_another_loop = second.run_until_complete(pollers())[0]
    finally:
        first.close()
        second.close()
    assert again is mine
    assert (mine.store, mine.client_factory) == (inbox, no_client)
    assert others is not mine
    assert others.store is other
    assert in_another_loop is not mine  # the first loop was still open: a poller belongs to its loop


async def ended(poller: SharedOnboardingPoller) -> None:
    await until(lambda: poller._task is not None and poller._task.done(), "the poller ended")


@pytest.mark.asyncio
async def test_the_poller_counts_its_work_and_leaves_the_registry_with_its_last_subscriber(inbox, reads):
    known, unknown = invitation_json(), str(uuid.uuid4())
    inbox.register_invitation(known)
    poller = SharedOnboardingPoller.for_store(inbox, no_client)
    async with subscribe(poller, known["id"], 3600) as waiting, subscribe(poller, unknown, 3600) as lost:
        await until(lambda: waiting.version and lost.version, "both served")
        assert (stage_of(waiting), lost.latest) == (Stage.INVITED, None)
        await asyncio.to_thread(onboard, inbox, known, "fleet-1", "conn-1")
        poller.wake()
        await until(lambda: stage_of(waiting) is Stage.CONNECTED, "the change read")
    await ended(poller)
    assert (id(asyncio.get_running_loop()), inbox.url) not in SharedOnboardingPoller._registry
    assert SharedOnboardingPoller.for_store(inbox, no_client) is not poller  # the next waiter gets a new one
    assert poller.queries == len(reads.log) >= 2
    assert poller.full_reads == 1  # the first read only (no_full_reads)
    assert poller.rows_parsed == reads.parsed >= 2
    assert poller.reconciliations == 0


@pytest.mark.asyncio
async def test_a_postgresql_inbox_is_listened_to_while_the_poller_runs(caplog):
    """No server at that address: the reads fail and are retried (logged), the listener retries on its own."""
    store = InboxStore("postgresql+psycopg2://catena:secret@127.0.0.1:1/inbox")
    poller = SharedOnboardingPoller.for_store(store, no_client)
    async with subscribe(poller, "inv-1", 3600):
        await until(lambda: poller.listener is not None, "listening")
        listener = poller.listener
        assert listener.on_change == poller.wake
        params = listener.params
        assert (params["host"], params["port"], params["dbname"]) == ("127.0.0.1", 1, "inbox")
        failed = "Reading the Catena inbox failed; retrying at the next poll"
        await until(lambda: any(r.getMessage() == failed for r in caplog.records), "the failed read logged")
    await ended(poller)
    assert listener._task is None  # closed with the poller


@pytest.mark.asyncio
async def test_listening_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(SharedOnboardingPoller, "listen", False)
    store = InboxStore("postgresql+psycopg2://catena:secret@127.0.0.1:1/inbox")
    poller = SharedOnboardingPoller.for_store(store, no_client)
    async with subscribe(poller, "inv-1", 3600):
        await until(lambda: poller._task is not None, "started")
        await let_the_loop_run()
        assert poller.listener is None
    await ended(poller)


# --- the poller's clock, driven by the test -----------------------------------------------------------


class Clock:
    """The poller's ``time``: its monotonic clock moves only when the test moves it (the event loop keeps
    real time, so a poll interval of an hour means no poll; reads come from wake-ups)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(shared_poller, "time", moved)
    return moved


class Sleeps:
    """The poller's ``asyncio``, recording the sleeps it asks for (the coalescing waits), then sleeping them."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __getattr__(self, name: str):
        return getattr(asyncio, name)

    async def sleep(self, delay: float) -> None:
        self.asked.append(delay)
        await asyncio.sleep(delay)


async def read_at(poller: SharedOnboardingPoller, clock: Clock, moment: float) -> None:
    """Wake the poller at ``moment`` of its clock and wait for the read that follows."""
    clock.now = moment
    queries = poller.queries
    poller.wake()
    await until(lambda: poller.queries == queries + 1, f"a read at {moment}")


@pytest.mark.asyncio
async def test_a_full_read_is_due_every_full_read_interval(inbox, reads, clock, monkeypatch):
    monkeypatch.setattr(SharedOnboardingPoller, "full_read_interval", 30.0)
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    poller = SharedOnboardingPoller.for_store(inbox, no_client)
    async with subscribe(poller, invitation["id"], 3600):
        await until(lambda: poller.queries == 1, "the first read")
        for moment in (1029.9, 1030.0, 1031.0, 1060.0):
            await read_at(poller, clock, moment)
    assert [fresh == {invitation["id"]} for fresh, _ in reads.log] == [True, False, True, False, True]
    assert poller.full_reads == 3


@pytest.mark.asyncio
async def test_an_early_read_waits_while_two_reads_started_within_the_window(inbox, clock, monkeypatch):
    """Window: min(poll interval, 1 s). The wait is what the poller asks of asyncio, by its own clock."""
    sleeps = Sleeps()
    monkeypatch.setattr(shared_poller, "asyncio", sleeps)
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    poller = SharedOnboardingPoller.for_store(inbox, no_client)
    async with subscribe(poller, invitation["id"], 3600):  # reads at 1000.0 (the first) and 1000.1
        await until(lambda: poller.queries == 1, "the first read")
        await read_at(poller, clock, 1000.1)
        assert sleeps.asked == []
        await read_at(poller, clock, 1000.25)  # a third within the second: waits until 1001.0
        assert sleeps.asked == [pytest.approx(0.75)]
        await read_at(poller, clock, 1002.0)  # the two before it started more than a second ago
        assert sleeps.asked == [pytest.approx(0.75), 0.0]


CATENA_INVITATION = f"{CATENA_URL}/v2/orgs/invitations/{{}}"


@pytest.mark.asyncio
async def test_due_waiters_are_reconciled_with_one_client_per_connection(inbox, catena_api, clock, caplog):
    declined, waiting, gone = (invitation_json(fleet_ref=f"acme-{i}") for i in range(3))
    for invitation in (declined, waiting, gone):
        inbox.register_invitation(invitation)
    catena_api.get(CATENA_INVITATION.format(declined["id"]), json={**declined, "status": "declined"})
    catena_api.get(CATENA_INVITATION.format(waiting["id"]), json=waiting)
    catena_api.get(CATENA_INVITATION.format(gone["id"]), status_code=404, json={"detail": "no such invitation"})
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([]))
    made: list[str | None] = []

    def client_factory(conn_id: str | None):
        made.append(conn_id)
        return catena_client(conn_id)

    poller = SharedOnboardingPoller.for_store(inbox, client_factory)
    async with contextlib.AsyncExitStack() as stack:
        subs = {
            invitation["id"]: await stack.enter_async_context(
                poller.subscribe(
                    invitation["id"], poll_interval=3600, reconcile_interval=60, catena_conn_id="catena_default"
                )
            )
            for invitation in (declined, waiting, gone)
        }
        await until(lambda: all(s.version for s in subs.values()), "all served")
        for expected in (2, 4):  # two of the three succeed each round
            clock.now += 60  # every waiter due
            poller.wake()
            await until(lambda n=expected: poller.reconciliations == n, f"{expected} reconciliations")
            await until(lambda: all(s.reconciled.is_set() for s in subs.values()), "reconciliation settled")
        await until(lambda: stage_of(subs[declined["id"]]) is Stage.DECLINED, "what it learnt delivered")
    assert [s.ended_by_reconciliation for s in subs.values()] == [True, False, False]
    assert made == ["catena_default"]  # one client for the connection, kept between rounds
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Could not reconcile")]
    assert len(failures) == 2
    assert failures[0].startswith(f"Could not reconcile invitation {gone['id']} with Catena: ")
    assert "404" in failures[0]


@pytest.mark.asyncio
async def test_an_accepted_invitation_without_a_fleet_is_probed_two_seconds_after_it_was_seen(inbox, catena_api, clock):
    invitation = invitation_json(status="accepted")
    inbox.register_invitation({**invitation, "status": "active"})
    webhook(inbox, "invitation.accepted", **invitation)  # no fleet_id: only REST can link it
    catena_api.get(CATENA_INVITATION.format(invitation["id"]), json=invitation)
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([]))
    catena_api.get(f"{CATENA_URL}/v2/integrations/connections", json=page([]))
    poller = SharedOnboardingPoller.for_store(inbox, catena_client)
    async with poller.subscribe(
        invitation["id"], poll_interval=3600, reconcile_interval=3600, catena_conn_id="catena_default"
    ) as sub:
        await until(lambda: poller.queries == 1, "the first read")
        assert stage_of(sub) is Stage.ACCEPTED
        assert sub.fleet_probe_at == 1002.0
        await read_at(poller, clock, 1001.9)
        assert sub.reconciled.is_set()  # not yet
        await read_at(poller, clock, 1002.0)
        await until(lambda: poller.reconciliations == 1 and sub.reconciled.is_set(), "the probe")
        assert (sub.fleet_probe_delay, sub.fleet_probe_at) == (4.0, 1006.0)  # still no fleet: next in 4 s
        assert sub.next_reconcile_at == 4602.0


@pytest.mark.asyncio
async def test_a_reconciliation_running_when_the_last_waiter_leaves_is_cancelled(inbox, catena_api, clock):
    invitation = invitation_json()
    inbox.register_invitation(invitation)
    catena_api.get(CATENA_INVITATION.format(invitation["id"]), json={**invitation, "status": "declined"})
    started, gate = threading.Event(), threading.Event()

    def slow_client(conn_id: str | None):
        started.set()
        gate.wait(60)
        return catena_client(conn_id)

    poller = SharedOnboardingPoller.for_store(inbox, slow_client)
    try:
        async with poller.subscribe(
            invitation["id"], poll_interval=3600, reconcile_interval=60, catena_conn_id="catena_default"
        ) as sub:
            await until(lambda: sub.version == 1, "served")
            clock.now += 60
            poller.wake()
            await until(started.is_set, "the reconciliation started")
        await ended(poller)
        await until(sub.reconciled.is_set, "the reconciliation cancelled")
    finally:
        gate.set()
    await until(lambda: poller.reconciliations == 1, "its thread finished")  # a thread cannot be stopped
    assert not sub.ended_by_reconciliation  # nobody was told: the task was cancelled

"""The inbox contract on both engines, with real concurrency (threads and separate engines)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from catena_airflow.inbox import InboxStore, Stage
from tests.unit.inbox import fleet_events as fe

pytestmark = pytest.mark.integration


def deliver(store, envelopes):
    return [store.record_event(env, fe.body(env)) for env in envelopes]


def test_onboarding_contract(store):
    store.register_invitation({"id": fe.INVITATION_ID, "fleet_ref": fe.FLEET_REF, "status": "active"}, dag_id="d")
    fleet_first = sorted(fe.happy() + fe.operational_events(20), key=lambda e: e["event_name"].startswith("invitation"))
    outcomes = deliver(store, fleet_first + fleet_first[:3])
    assert [o.duplicate for o in outcomes].count(True) == 3

    ob = store.get_onboarding(fe.INVITATION_ID)
    assert (ob.stage, ob.fleet_id, ob.dag_id, ob.connected_at is not None) == (Stage.CONNECTED, fe.FLEET_ID, "d", True)
    assert ob.schedules[fe.SCHEDULE_ID].failed_executions == 2
    assert store.get_onboardings([fe.INVITATION_ID, "x"]).keys() == {fe.INVITATION_ID}
    assert store.count_onboardings(stage=Stage.CONNECTED, search="fleet-4") == 1
    assert [e.event_name for e in store.events_after(0, ["execution.*"])] == ["execution.failed"] * 2
    stats = store.webhook_stats()
    assert (stats.events_total, stats.duplicates_dropped, stats.held_events) == (len(fleet_first), 3, 0)
    store.save_subscription_secret("wh", "s")
    assert store.subscription_secrets() == {"wh": "s"}


def test_migrate_twice_from_two_engines(inbox_url):
    stores = [InboxStore(inbox_url) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            versions = list(pool.map(lambda s: s.migrate(), stores))
        assert versions[0] == versions[1] == stores[0].schema_version()
    finally:
        for s in stores:
            s.dispose()


def test_same_event_from_many_writers_is_stored_once(inbox_url, store):
    others = [InboxStore(inbox_url) for _ in range(3)]  # as separate receiver processes would
    env = fe.happy()[0]
    try:
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda i: ([*others, store])[i % 4].record_event(env, fe.body(env)), range(16)))
    finally:
        for s in others:
            s.dispose()
    assert sum(o.stored for o in outcomes) == 1
    assert len(store.events_after(0)) == 1


def test_watchers_never_see_seq_go_backwards(inbox_url, store):
    """seq order is commit order: a cursor reader polling during concurrent writes misses nothing."""
    writers = [InboxStore(inbox_url) for _ in range(3)]
    total = 150
    done = threading.Event()
    seen: list[int] = []

    def watch() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            batch = store.events_after(cursor, limit=1000)
            seen.extend(e.seq for e in batch)
            cursor = batch[-1].seq if batch else cursor
            if finished and not batch:
                return

    def write(i: int) -> None:
        env = fe.envelope(i, "vehicle_location.added", {"id": f"v{i}", "fleet_id": "f"})
        writers[i % 3].record_event(env, fe.body(env))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(write, range(total)))
    finally:
        done.set()
        watcher.join(60)
        for s in writers:
            s.dispose()
    all_seqs = [e.seq for e in store.events_after(0, limit=1000)]
    assert len(all_seqs) == total
    assert seen == all_seqs  # nothing committed behind a cursor already passed


def test_a_plain_postgresql_url_works(postgres_url):
    """SQLAlchemy 2.1 reads postgresql:// as psycopg 3; the inbox's writer runs on psycopg2 either way."""
    from sqlalchemy.engine import make_url

    plain = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    store = InboxStore(plain)
    try:
        store.migrate()
        assert store.engine.url.drivername == "postgresql+psycopg2"
        assert [o.stored for o in deliver(store, fe.reuse())] == [True] * len(fe.reuse())
        assert store.get_onboarding(fe.INVITATION_ID).stage is Stage.CONNECTED
    finally:
        store.dispose()


def test_another_postgresql_driver_is_refused_clearly(postgres_url):
    from sqlalchemy.engine import make_url

    psycopg3 = make_url(postgres_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    with pytest.raises(ValueError, match="needs the psycopg2 driver"):
        InboxStore(psycopg3)

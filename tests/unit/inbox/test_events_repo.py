"""The event log (inbox/events_repo.py): what a stored event keeps, how a batch is counted, the reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from catena_airflow.inbox import IncomingEvent
from tests.unit.inbox import fleet_events as fe

RECEIVED = datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)


def item(env: dict, **kwargs) -> IncomingEvent:
    return IncomingEvent.from_envelope(env, fe.body(env), **{"received_at": RECEIVED, **kwargs})


def unprojected(n: int, **record) -> dict:
    return fe.envelope(n, "vehicle_location.added", {"id": f"v-{n}", **record})


def held(store) -> dict[str, bool]:
    with store.engine.connect() as conn:
        return {r[0]: bool(r[1]) for r in conn.exec_driver_sql("SELECT event_id, held FROM catena_events")}


def test_a_stored_event_keeps_every_field_of_its_delivery(store):
    env = fe.happy()[0]
    [outcome] = store.record_events([item(env, request_id="req-1")])
    stored = store.get_event(env["id"])
    assert stored.model_dump() == {
        "seq": outcome.seq,
        "event_id": env["id"],
        "event_name": "invitation.created",
        "webhook_id": fe.WEBHOOK_ID,
        "request_id": "req-1",
        "received_at": RECEIVED,
        "event_timestamp": fe.at(1),
        "fleet_id": None,
        "fleet_ref": fe.FLEET_REF,
        "invitation_id": fe.INVITATION_ID,  # the onboarding it created
        "connection_id": None,
        "delivery_attempt": 1,
        "body": fe.body(env).decode(),
    }
    assert stored.received_at.tzinfo is not None and stored.event_timestamp.tzinfo is not None
    assert store.get_event("no-such-event") is None
    assert store.events_after(0) == [stored]


def test_one_delivery_is_recorded_with_its_request_id(store):
    env = unprojected(1)
    outcome = store.record_event(env, fe.body(env), received_at=RECEIVED, request_id="req-7")
    stored = store.get_event(env["id"])
    assert (stored.seq, stored.request_id, stored.received_at) == (outcome.seq, "req-7", RECEIVED)


def test_a_projected_event_is_keyed_by_its_first_record_even_after_junk(store):
    record = fe.connection_record()
    env = {**fe.envelope(1, "connection.created", record), "data": ["junk", record]}
    agreement = fe.share_agreement_record()
    env2 = {**fe.envelope(2, "share_agreement.created", agreement), "data": ["junk", agreement]}
    store.record_events([item(env), item(env2)])
    stored = store.get_event(env["id"])
    assert (stored.fleet_id, stored.connection_id) == (fe.FLEET_ID, fe.CONNECTION_ID)
    stored = store.get_event(env2["id"])
    assert (stored.fleet_id, stored.fleet_ref) == (agreement["fleet_id"], fe.FLEET_REF)


def test_a_batch_is_counted_with_its_duplicates_and_the_callers_counters(store):
    envs = [unprojected(1), unprojected(2)]
    outcomes = store.record_events(
        [item(envs[0]), item(envs[1]), item(envs[0])], counters={"events": 5, "duplicates": 1, "rejected": 2}
    )
    assert [(o.stored, o.duplicate) for o in outcomes] == [(True, False), (True, False), (False, True)]
    assert outcomes[0].seq < outcomes[1].seq == store.last_seq() and outcomes[2].seq is None
    stats = store.webhook_stats()
    assert (stats.events_total, stats.duplicates_dropped, stats.rejected) == (7, 2, 2)
    # A batch of redeliveries only: no event counted.
    again = store.record_events([item(envs[1])])
    assert [(o.stored, o.duplicate, o.seq) for o in again] == [(False, True, None)]
    stats = store.webhook_stats()
    assert (stats.events_total, stats.duplicates_dropped) == (7, 3)
    # Only new events: no duplicate counted.
    store.record_events([item(unprojected(3))])
    stats = store.webhook_stats()
    assert (stats.events_total, stats.duplicates_dropped) == (8, 3)


def test_an_empty_batch_stores_and_counts_nothing(store):
    assert store.record_events([]) == []
    assert store.record_events([], counters={"signature_failures": 2}) == []
    stats = store.webhook_stats()
    assert (stats.events_total, stats.duplicates_dropped, stats.signature_failures) == (0, 0, 2)


def test_a_projected_redelivery_in_a_later_batch_is_a_duplicate_and_changes_nothing(store):
    envs = fe.happy()
    store.record_events([item(e) for e in envs])
    before = store.get_onboarding(fe.INVITATION_ID)
    outcomes = store.record_events([item(envs[0]), item(unprojected(50))])
    assert [(o.stored, o.duplicate) for o in outcomes] == [(False, True), (True, False)]
    assert store.get_onboarding(fe.INVITATION_ID) == before
    assert store.webhook_stats().duplicates_dropped == 1


def test_an_event_that_cannot_be_applied_yet_is_held_with_its_keys_and_released_later(store):
    envs = fe.happy()
    connection = next(e for e in envs if e["event_name"] == "connection.created")
    store.record_events([item(connection)])
    stored = store.get_event(connection["id"])
    assert (stored.invitation_id, stored.connection_id, stored.fleet_id) == (None, fe.CONNECTION_ID, fe.FLEET_ID)
    assert held(store) == {connection["id"]: True}
    store.record_events([item(e) for e in envs if e is not connection])
    assert held(store)[envs[0]["id"]] is False
    assert store.get_event(envs[0]["id"]).invitation_id == fe.INVITATION_ID
    assert store.webhook_stats().held_events == 0


def test_a_projected_event_without_records_is_stored_as_received(store):
    env = {**fe.envelope(1, "invitation.created", {}), "data": ["not a record"]}
    [outcome] = store.record_events([item(env)])
    assert outcome.stored
    stored = store.get_event(env["id"])
    assert (stored.invitation_id, stored.connection_id, stored.fleet_id, stored.fleet_ref) == (None, None, None, None)
    assert held(store) == {env["id"]: False}


def test_events_after_reads_in_seq_order_from_the_cursor_with_a_limit(store):
    outcomes = store.record_events([item(unprojected(n)) for n in range(1, 106)])
    seqs = [o.seq for o in outcomes]
    assert [e.seq for e in store.events_after(0)] == seqs[:100]  # the default limit
    assert [e.seq for e in store.events_after(seqs[2], limit=2)] == seqs[3:5]  # strictly after the cursor
    assert store.events_after(seqs[-1]) == []
    assert [e.seq for e in store.events_after(seqs[-3], limit=1000)] == seqs[-2:]


def test_events_after_filters_by_exact_names_and_families(store):
    names = ["connection.created", "connection.staled", "connectionXstaled.x", "schedule.deactivated", "conn.x"]
    store.record_events([item(fe.envelope(n, name, {"id": f"r-{n}"})) for n, name in enumerate(names, 1)])

    def read(filter_names):
        return [e.event_name for e in store.events_after(0, filter_names)]

    assert read(None) == names
    assert read(["*"]) == names
    assert read([]) == []
    assert read(["connection.*"]) == ["connection.created", "connection.staled"]
    assert read(["connection.created"]) == ["connection.created"]
    assert read(["schedule.deactivated", "connection.s*"]) == ["connection.staled", "schedule.deactivated"]
    assert read(["conn*"]) == [n for n in names if n.startswith("conn")]
    assert read(["connection"]) == []


def test_events_after_keeps_seq_order_across_names_and_reads_a_familys_underscore_literally(store):
    names = ["schedule.deactivated", "connection.created", "vehicleXlocation.added", "vehicle_location.added"]
    store.record_events([item(fe.envelope(n, name, {"id": f"r-{n}"})) for n, name in enumerate(names, 1)])
    found = store.events_after(0, ["schedule.deactivated", "connection.created"])
    assert [e.event_name for e in found] == ["schedule.deactivated", "connection.created"]  # seq, not name order
    assert [e.event_name for e in store.events_after(0, ["vehicle_location.*"])] == ["vehicle_location.added"]
    assert [e.event_name for e in store.events_after(0, ["vehicle_*"])] == ["vehicle_location.added"]


def test_the_last_seq_of_an_empty_inbox_is_zero(store):
    assert store.last_seq() == 0
    [outcome] = store.record_events([item(unprojected(1))])
    assert store.last_seq() == outcome.seq > 0


def test_a_connection_went_stale_only_when_catena_said_so_for_it(store):
    other = "019d0000-0000-7000-8000-00000000c002"
    created = fe.envelope(1, "connection.created", fe.connection_record(conn_id=fe.CONNECTION_ID))
    staled = fe.envelope(2, "connection.staled", fe.connection_record("stale", conn_id=other))
    store.record_events([item(created), item(staled)])
    assert store.connection_went_stale(other)
    assert not store.connection_went_stale(fe.CONNECTION_ID)
    assert not store.connection_went_stale("unknown")


def test_the_latest_event_per_connection_is_by_seq_not_by_timestamp(store):
    first = fe.envelope(9, "connection.staled", fe.connection_record("stale"))
    second = fe.envelope(1, "connection.staled", fe.connection_record("stale"))  # earlier timestamp
    store.record_events([item(first)])
    store.record_events([item(second, received_at=RECEIVED - timedelta(hours=1))])
    other = fe.envelope(10, "connection.staled", fe.connection_record("stale", conn_id="c-other"))
    store.record_events([item(other)])
    found = store.latest_event_per_connection("connection.staled", iter([fe.CONNECTION_ID, fe.CONNECTION_ID]))
    assert {k: v.event_id for k, v in found.items()} == {fe.CONNECTION_ID: second["id"]}  # only those asked

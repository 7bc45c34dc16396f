from __future__ import annotations

import asyncio
import threading

import pytest

from catena_airflow.inbox import InboxStore, IncomingEvent, RecordOutcome
from catena_airflow.webhooks.writer import GroupCommitWriter
from tests.unit.inbox import fleet_events as fe


def items(n: int) -> list[IncomingEvent]:
    return [
        IncomingEvent.from_envelope(env, fe.body(env))
        for env in (fe.envelope(i, "vehicle.modified", {"id": f"v-{i}"}) for i in range(n))
    ]


async def submit_all(writer: GroupCommitWriter, batch: list[IncomingEvent]):
    return await asyncio.gather(*(writer.submit(i, timeout=30) for i in batch), return_exceptions=True)


def test_concurrent_submissions_are_committed_in_batches(sqlite_url):
    store = InboxStore(sqlite_url)
    store.migrate()
    writer = GroupCommitWriter(lambda: store)
    try:
        outcomes = asyncio.run(submit_all(writer, items(200)))
    finally:
        writer.close()
    assert all(isinstance(o, RecordOutcome) and o.stored for o in outcomes)
    assert len({o.seq for o in outcomes}) == 200
    assert writer.batches < 200 and writer.largest_batch > 1  # some requests shared a commit
    assert store.webhook_stats().events_total == 200


class PoisonStore:
    """Stands in for the store to make exactly one delivery fail on commit (a real DB cannot be told
    to fail for one row on demand); the writer only uses record_events/add_counters."""

    def __init__(self) -> None:
        self.committed: list[str] = []
        self.gate = threading.Event()

    def record_events(self, batch, counters=None):
        self.gate.wait(5)  # hold the first commit so the others queue up into one batch
        if any(item.event_id == "poison" for item in batch):
            raise RuntimeError("constraint violated")
        self.committed += [item.event_id for item in batch]
        return [RecordOutcome(stored=True, duplicate=False, seq=i) for i, _ in enumerate(batch)]

    def add_counters(self, counts):
        pass


def test_one_failing_delivery_does_not_fail_its_batch():
    store = PoisonStore()
    writer = GroupCommitWriter(lambda: store)
    batch = items(5)
    batch[2] = IncomingEvent(**{**batch[2].__dict__, "event_id": "poison"})

    async def run():
        tasks = [asyncio.ensure_future(writer.submit(i, timeout=30)) for i in batch]
        await asyncio.sleep(0.2)
        store.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        outcomes = asyncio.run(run())
    finally:
        writer.close()
    assert isinstance(outcomes[2], RuntimeError)
    assert [isinstance(o, RecordOutcome) for o in outcomes] == [True, True, False, True, True]
    assert sorted(store.committed) == sorted(i.event_id for i in batch if i.event_id != "poison")


def test_a_request_that_gave_up_does_not_break_the_writer():
    store = PoisonStore()
    writer = GroupCommitWriter(lambda: store)

    async def run():
        with pytest.raises(TimeoutError):
            await writer.submit(items(1)[0], timeout=0.05)
        store.gate.set()
        return await writer.submit(items(2)[1], timeout=30)

    try:
        assert asyncio.run(run()).stored
    finally:
        writer.close()

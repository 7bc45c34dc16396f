"""The inbox-tailing AssetWatcher trigger against a real inbox."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger

from catena_airflow.triggers.inbox_events import CatenaInboxEventTrigger
from tests.unit.airflow_layer import webhook


async def take(trigger: CatenaInboxEventTrigger, count: int) -> list[dict]:
    """The first ``count`` events of one run of the trigger, which then idles and is stopped (a restart).

    Like the triggerer, the run goes on after each event (that is when the cursor moves).
    """
    gen = trigger.run()
    try:
        events = [(await asyncio.wait_for(gen.asend(None), 10)).payload for _ in range(count)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gen.asend(None), 0.2)
        return events
    finally:
        await gen.aclose()


async def nothing_within(trigger: CatenaInboxEventTrigger, seconds: float) -> bool:
    gen = trigger.run()
    try:
        await asyncio.wait_for(gen.asend(None), seconds)
        return False
    except TimeoutError:
        return True
    finally:
        await gen.aclose()


def operational(inbox) -> list[int]:
    return [
        webhook(
            inbox, "execution.failed", id="x1", schedule_id="s1", connection_id="c1", fleet_id="f1", status="failed"
        ),
        webhook(inbox, "invitation.viewed", id="i1"),  # not operational: never emitted
        webhook(inbox, "schedule.deactivated", id="s1", connection_id="c1", resource="vehicle", status="inactive"),
    ]


def test_is_an_event_trigger_usable_by_an_asset_watcher():
    trigger = CatenaInboxEventTrigger(event_names=["execution.failed"])
    assert isinstance(trigger, BaseEventTrigger)
    Asset(name="a", uri="catena://events/a", watchers=[AssetWatcher(name="w", trigger=trigger)])


def test_serialize_round_trip():
    trigger = CatenaInboxEventTrigger(event_names=["execution.failed", "schedule.*"], poll_interval=3.0)
    classpath, kwargs = trigger.serialize()
    assert classpath == "catena_airflow.triggers.inbox_events.CatenaInboxEventTrigger"
    assert kwargs["event_names"] == ["execution.failed", "schedule.*"]
    assert kwargs["cursor_name"] == "watcher:execution.failed,schedule.*"
    assert CatenaInboxEventTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.asyncio
async def test_emits_each_new_event_once_across_restarts_with_the_inbox_cursor(inbox):
    seqs = operational(inbox)
    names = ["execution.failed", "schedule.deactivated"]
    first = await take(CatenaInboxEventTrigger(event_names=names, poll_interval=0.02), 2)
    assert [e["seq"] for e in first] == [seqs[0], seqs[2]]
    assert [e["event_name"] for e in first] == names
    # A restarted trigger (same kwargs) resumes after the last emitted event: no repeats.
    restarted = CatenaInboxEventTrigger(event_names=names, poll_interval=0.02)
    assert await nothing_within(restarted, 0.3)
    new = webhook(
        inbox, "execution.failed", id="x2", schedule_id="s1", connection_id="c1", fleet_id="f1", status="failed"
    )
    assert [e["seq"] for e in await take(restarted, 1)] == [new]
    assert inbox.watcher_cursor(restarted.cursor_name) == new


@pytest.mark.asyncio
async def test_the_cursor_is_the_inboxs_to_read_and_reset(inbox):
    seqs = operational(inbox)
    trigger = CatenaInboxEventTrigger(event_names=["schedule.*"], poll_interval=0.02)
    assert [e["seq"] for e in await take(trigger, 1)] == [seqs[2]]
    assert inbox.watcher_cursor(trigger.cursor_name) == seqs[2]
    inbox.set_watcher_cursor(trigger.cursor_name, 0)  # reset where it is kept: the event comes again
    again = CatenaInboxEventTrigger(event_names=["schedule.*"], poll_interval=0.02)
    assert [e["seq"] for e in await take(again, 1)] == [seqs[2]]


@pytest.mark.asyncio
async def test_resumes_from_a_cursor_saved_in_the_inbox(inbox):
    # E.g. one a pre-v4 trigger saved in its own table, which schema v4 adopted unchanged.
    seqs = operational(inbox)
    trigger = CatenaInboxEventTrigger(event_names=["execution.failed", "schedule.deactivated"], poll_interval=0.02)
    inbox.set_watcher_cursor(trigger.cursor_name, seqs[0])
    assert [e["seq"] for e in await take(trigger, 1)] == [seqs[2]]
    assert inbox.watcher_cursor(trigger.cursor_name) == seqs[2]

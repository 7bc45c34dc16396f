"""Asset watcher trigger: each new operational event in the inbox becomes one asset event.

Tails the inbox's append-only event log (``seq`` order) from a durable cursor and emits each new
matching event once, never a condition ("there are events"), so a DAG scheduled on the asset runs
per new event, not per poll.

The cursor lives in the inbox's reader cursors (``InboxStore.watcher_cursor``, schema v4) and only
there, not in Airflow's asset state store as well: it sits in the same database, and the same
transaction ordering, as the ``seq`` it indexes (a restored or re-created inbox takes its cursors with
it, so a cursor never points past events that are not there); it works where no state store is
injected (``dag.test()``, a triggerer without one); and there is one place to read or reset it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from catena_airflow.client.events import CONNECTION_CREATED, OPERATIONAL_EVENTS
from catena_airflow.hooks.inbox import inbox_store, resolve_inbox_url
from catena_airflow.inbox import StoredEvent

#: What the trigger tails by default: the events that need action after onboarding, plus
#: ``connection.created`` (a reason to ask Catena whether a stale fleet is back).
WATCHED_EVENTS = (*OPERATIONAL_EVENTS, CONNECTION_CREATED)


def event_payload(event: StoredEvent) -> dict[str, Any]:
    """What the asset event carries: enough to route it; the handler reads the full event from the inbox."""
    return {
        "seq": event.seq,
        "event_id": event.event_id,
        "event_name": event.event_name,
        "fleet_id": event.fleet_id,
        "connection_id": event.connection_id,
        "invitation_id": event.invitation_id,
        "received_at": event.received_at.isoformat(),
    }


class CatenaInboxEventTrigger(BaseEventTrigger):
    """Emits one event per new inbox event named in ``event_names`` (families like ``execution.*`` work).

    :param event_names: Event names (or ``family.*``) to emit.
    :param inbox_conn_id: Airflow connection of the inbox; None (default): ``[catena] inbox_url``.
    :param poll_interval: Seconds between inbox reads when there is nothing new.
    :param cursor_name: Name of the cursor, ``InboxStore.watcher_cursor(name)`` (defaults to one derived
        from the event names).
    :param batch_size: Inbox events read per query.
    """

    def __init__(
        self,
        *,
        event_names: Sequence[str] = WATCHED_EVENTS,
        inbox_conn_id: str | None = None,
        poll_interval: float = 2.0,
        cursor_name: str | None = None,
        batch_size: int = 100,
    ) -> None:
        super().__init__()
        self.event_names = list(event_names)
        self.inbox_conn_id = inbox_conn_id
        self.poll_interval = poll_interval
        self.cursor_name = cursor_name or "watcher:" + ",".join(sorted(self.event_names))
        self.batch_size = batch_size

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "event_names": self.event_names,
                "inbox_conn_id": self.inbox_conn_id,
                "poll_interval": self.poll_interval,
                "cursor_name": self.cursor_name,
                "batch_size": self.batch_size,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        url = await sync_to_async(resolve_inbox_url)(self.inbox_conn_id)
        store = await asyncio.to_thread(inbox_store, url)  # migrated on first use: the cursors table is there
        cursor = await asyncio.to_thread(store.watcher_cursor, self.cursor_name) or 0
        self.log.info("Tailing the Catena inbox for %s from seq %d", ", ".join(self.event_names), cursor)
        while True:
            events = await asyncio.to_thread(store.events_after, cursor, self.event_names, self.batch_size)
            for event in events:
                # Emit, then move the cursor: a crash in between re-emits one event (a harmless extra
                # doorbell for the operations DAG, which keeps its own "handled" cursor), never loses one.
                self.log.info("Inbox event %d: %s (%s)", event.seq, event.event_name, event.event_id)
                yield TriggerEvent(event_payload(event))
                cursor = event.seq
                await asyncio.to_thread(store.set_watcher_cursor, self.cursor_name, cursor)
            if len(events) < self.batch_size:
                await asyncio.sleep(self.poll_interval)

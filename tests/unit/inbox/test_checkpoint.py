from __future__ import annotations

import json
from datetime import UTC, datetime

from catena_airflow.inbox import InboxStore, IncomingEvent
from tests.fixtures.databases import migrated_store


def _telematics(n: int) -> IncomingEvent:
    envelope = {
        "id": f"ev-{n}",
        "event_name": "vehicle_location.added",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": [{"id": f"vl-{n}", "fleet_id": "fleet-1", "latitude": 52.1, "longitude": 4.3}],
    }
    return IncomingEvent.from_envelope(envelope, json.dumps(envelope))


def _autocheckpoint(store: InboxStore) -> int:
    raw = store.engine.raw_connection()
    try:
        return raw.cursor().execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    finally:
        raw.close()


def test_background_checkpoints_replace_the_ones_inside_commits(tmp_path):
    with migrated_store(f"sqlite:///{tmp_path / 'inbox.db'}", checkpoint_in_background=True) as store:
        assert _autocheckpoint(store) == 0  # no commit copies the WAL back any more...
        store.record_events([_telematics(n) for n in range(200)])
        busy, frames, done = store._checkpointer.checkpoint()  # ...the checkpointer does
        assert (busy, done) == (0, frames) and frames > 0
        assert len(store.events_after(0, limit=500)) == 200
    assert not store._checkpointer._thread.is_alive()


def test_stores_keep_sqlites_checkpoints_by_default(tmp_path):
    with migrated_store(f"sqlite:///{tmp_path / 'inbox.db'}") as store:
        assert _autocheckpoint(store) == 1000
        assert store._checkpointer is None


def test_in_memory_inboxes_have_no_checkpointer():
    store = InboxStore("sqlite://", checkpoint_in_background=True)
    try:
        assert store._checkpointer is None
    finally:
        store.dispose()

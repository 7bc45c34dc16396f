"""A writer stalled inside a transaction holding the inbox writer lock (PostgreSQL) blocks nobody forever."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.store import _WRITER_LOCK_KEY
from tests.fixtures.net import free_port, wait_for_http
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.signing import SECRET, delivery

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
BIN = Path(sys.executable).parent
# Far above the store's lock timeout: reaching it means the writer hung.
HANG = 120


def record_in_thread(store: InboxStore, envelope: dict) -> list[BaseException | None]:
    """Run record_event off the test thread, so a hang is seen (and reported) instead of freezing the test."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            store.record_event(envelope, fe.body(envelope))
            outcome.append(None)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG)
    assert not thread.is_alive(), "record_event hung behind the stalled writer"
    return outcome


def test_a_stalled_lock_holder_gets_other_writers_a_503_then_they_recover(postgres_url, start_process):
    store = InboxStore(postgres_url, pg_lock_timeout=1.0)
    store.migrate()
    port = free_port()
    env = {**os.environ, "CATENA_INBOX_URL": postgres_url, "CATENA_WEBHOOK_SECRET": SECRET}
    proc = start_process([str(BIN / "catena-webhooks"), "serve", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base}/healthz", timeout=60, process=proc)
    first, second = fe.happy()[:2]

    # The stalled writer: another session that took the writer lock and then sits idle in its transaction.
    stalled = create_engine(postgres_url).connect()
    try:
        stalled.begin()
        stalled.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITER_LOCK_KEY})

        [error] = record_in_thread(store, first)
        assert isinstance(error, OperationalError) and "lock timeout" in str(error).lower()
        content, headers = delivery(fe.body(second))
        assert requests.post(f"{base}/catena/webhooks", data=content, headers=headers, timeout=HANG).status_code == 503
    finally:
        stalled.rollback()  # the stalled writer goes away: its transaction-scoped lock goes with it
        stalled.close()

    assert record_in_thread(store, first) == [None]
    content, headers = delivery(fe.body(second))
    assert requests.post(f"{base}/catena/webhooks", data=content, headers=headers, timeout=HANG).status_code == 202
    # The receiver answers 503 after its commit timeout (2.5 s), while its commit may still be waiting for
    # the lock (up to the store's lock timeout): it then lands when the lock is freed, before or after
    # `first`. Either way each event is stored once.
    assert sorted(e.event_id for e in store.events_after(0)) == [first["id"], second["id"]]
    store.dispose()

"""Many processes starting at once against one fresh SQLite inbox, as `make demo` does: none may fail.

Each process of the demo (api-server receiver, triggerer watchers and poller, workers registering
invitations) opens the inbox, migrates it and writes within the same seconds. Repeated over several
fresh files, because the race is at the very first connections.
"""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.schema import SCHEMA_VERSION

pytestmark = pytest.mark.integration

PROCESSES = 6
THREADS = 2
FILES = 12
WRITES = 3


def _write_some(store: InboxStore, key: str) -> None:
    store.migrate()
    for n in range(WRITES):
        invitation_id = f"inv-{key}-{n}"
        store.register_invitation({"id": invitation_id, "fleet_ref": f"F-{key}-{n}", "status": "active"})
        envelope = {
            "id": f"ev-{key}-{n}",
            "event_name": "invitation.viewed",
            "data": [{"invitation_id": invitation_id, "status": "viewed"}],
        }
        store.record_event(envelope, "{}")
        store.migrate()  # processes re-check the schema (the receiver after each failed commit)


def _process(urls: list[str], index: int, barrier: Any, errors: Any) -> None:
    """One process of the stack; its threads stand for the triggerer's watchers / a worker's task."""

    def run(thread: int) -> None:
        for url in urls:
            barrier.wait(timeout=120)  # every thread of every process opens this fresh file together
            store = InboxStore(url)
            try:
                _write_some(store, f"{index}-{thread}")
            except Exception as exc:  # collected: the test fails on any
                errors.put(f"process {index} thread {thread}: {exc!r}\n{traceback.format_exc()[-1200:]}")
            finally:
                store.dispose()

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_startup_and_writes_on_fresh_sqlite_files(tmp_path: Path):
    urls = [f"sqlite:///{tmp_path / f'inbox-{n}.db'}" for n in range(FILES)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES * THREADS)
    errors = ctx.Queue()
    procs = [ctx.Process(target=_process, args=(urls, i, barrier, errors)) for i in range(PROCESSES)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=600)
        failures = []
        while not errors.empty():
            failures.append(errors.get())
        assert failures == [], "\n".join(failures)
        assert [p.exitcode for p in procs] == [0] * PROCESSES
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()

    for url in urls:
        store = InboxStore(url)
        try:
            assert store.schema_version() == SCHEMA_VERSION
            assert store.count_onboardings() == PROCESSES * THREADS * WRITES
            assert len(store.events_after(0, limit=1000)) == PROCESSES * THREADS * WRITES
        finally:
            store.dispose()

"""The real Airflow api-server app (``create_app``) with the plugin mounted, and a seeded inbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from catena_airflow.inbox import InboxStore
from tests.unit.ui.seeding import SeededInbox, seed_dashboard_inbox


@pytest.fixture
def inbox_store(sqlite_url, monkeypatch) -> Iterator[InboxStore]:
    """A fresh inbox of this test's own, which the dashboard reads through ``CATENA_INBOX_URL``."""
    monkeypatch.setenv("CATENA_INBOX_URL", sqlite_url)
    store = InboxStore(sqlite_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def seeded(inbox_store) -> SeededInbox:
    return seed_dashboard_inbox(inbox_store, now=datetime.now(UTC))

from __future__ import annotations

from pathlib import Path

import pytest

from catena_airflow.inbox import InboxStore
from tests.integration.inbox.markers import mark_postgres_variants


@pytest.fixture
def store(inbox_url):
    """A migrated store on each engine (SQLite file, fresh PostgreSQL database)."""
    s = InboxStore(inbox_url)
    s.migrate()
    yield s
    s.dispose()


def pytest_collection_modifyitems(items):
    mark_postgres_variants(items, Path(__file__).parent)

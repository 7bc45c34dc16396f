from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.databases import migrated_store
from tests.integration.inbox.markers import mark_postgres_variants


@pytest.fixture
def store(inbox_url):
    """A migrated store on each engine (SQLite file, fresh PostgreSQL database)."""
    with migrated_store(inbox_url) as store:
        yield store


def pytest_collection_modifyitems(items):
    mark_postgres_variants(items, Path(__file__).parent)

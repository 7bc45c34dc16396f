from __future__ import annotations

from pathlib import Path

from tests.integration.inbox.markers import mark_postgres_variants


def pytest_collection_modifyitems(items):
    mark_postgres_variants(items, Path(__file__).parent)

"""A released v1 inbox is upgraded in place to the current schema, its data kept (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect

from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    events,
    held_by_fleet_ref,
    schema_version,
    subscriptions,
)

pytestmark = pytest.mark.integration

_HELD_REF_INDEX = held_by_fleet_ref.name


def _indexes(store: InboxStore) -> set[str]:
    return {index["name"] for index in inspect(store.engine).get_indexes(events.name)}


def test_v1_inbox_upgrades_to_the_current_schema(inbox_url):
    store = InboxStore(inbox_url)
    try:
        with store.engine.begin() as conn:  # the database as v1 left it
            MIGRATIONS[1](conn)
            conn.execute(schema_version.insert().values(id=1, version=1))
        assert "next_secret" not in {c["name"] for c in inspect(store.engine).get_columns(subscriptions.name)}
        assert _HELD_REF_INDEX not in _indexes(store)
        with store.engine.begin() as conn:
            conn.execute(
                subscriptions.insert().values(
                    webhook_id="wh-1", secret="plain:old", event_name="invitation.*", updated_at=datetime.now(UTC)
                )
            )

        assert store.migrate() == SCHEMA_VERSION == 3
        assert store.schema_version() == 3
        assert _HELD_REF_INDEX in _indexes(store)  # v3
        assert store.subscription_secret_candidates("wh-1") == ["old"]
        store.stage_subscription_secret("wh-1", "new")
        assert store.subscription_secret_candidates("wh-1") == ["old", "new"]
        store.promote_subscription_secret("wh-1", grace=timedelta(minutes=5))
        assert store.subscription_secret_candidates("wh-1") == ["new", "old"]
        later = datetime.now(UTC) + timedelta(minutes=6)
        assert store.subscription_secret_sets(now=later) == {"wh-1": ["new"]}
        assert store.migrate() == 3  # idempotent
    finally:
        store.dispose()

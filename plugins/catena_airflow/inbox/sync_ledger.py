"""The ingestion's sync ledger: per (fleet, resource), the rows its loads wrote and how current it is.

The ingestion tasks write it after each load (or failed load); the dashboard reads it for its rows
ingested and lag columns. The data itself is in dlt's warehouse, which the api-server may not be able
to read (a DuckDB file its writer holds locked, or a warehouse it has no credentials for).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import case, func, or_, select

from catena_airflow.inbox.engine import InboxDatabase, retried_when_busy
from catena_airflow.inbox.operations_models import ResourceSync
from catena_airflow.inbox.projection import to_utc
from catena_airflow.inbox.schema import resource_syncs

_KEYS = ("fleet_id", "resource")


class SyncLedgerRepo:
    """The ``catena_resource_syncs`` table (schema v5)."""

    def __init__(self, db: InboxDatabase) -> None:
        self.db = db

    @retried_when_busy
    def record_sync(
        self,
        *,
        fleet_id: str,
        resource: str,
        rows: int,
        cursor_value: datetime | None,
        fleet_ref: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """A successful load of one resource: its rows added to the total, the cursor kept if it moved on.

        One upsert computing both in SQL, so two loads of a fleet recording at once (the onboarding's first
        load and a scheduled one) each add their rows: no read, no lost update, no lock to wait for.
        """
        now = at or datetime.now(UTC)
        row: dict[str, Any] = {
            "fleet_id": fleet_id,
            "resource": resource,
            "rows_loaded": rows,
            "last_rows": rows,
            "cursor_value": cursor_value,
            "last_success_at": now,
            "last_attempt_at": now,
            "last_error": None,
            "updated_at": now,
        }
        if fleet_ref is not None:
            row["fleet_ref"] = fleet_ref
        insert = self.db.insert(resource_syncs).values(row)
        stored, given = resource_syncs.c, insert.excluded
        furthest = case(
            (given.cursor_value.is_(None), stored.cursor_value),
            (or_(stored.cursor_value.is_(None), given.cursor_value > stored.cursor_value), given.cursor_value),
            else_=stored.cursor_value,
        )
        updates = {column: given[column] for column in row if column not in _KEYS}
        upsert = insert.on_conflict_do_update(
            index_elements=list(_KEYS),
            set_={**updates, "rows_loaded": stored.rows_loaded + given.rows_loaded, "cursor_value": furthest},
        )
        with self.db.write(ordered=False) as conn:
            conn.execute(upsert)

    @retried_when_busy
    def record_sync_failure(
        self, *, fleet_id: str, resources: Iterable[str], error: str, at: datetime | None = None
    ) -> None:
        """A failed load: each resource keeps its totals and last success, and shows ``error``."""
        now = at or datetime.now(UTC)
        with self.db.write(ordered=False) as conn:
            for resource in resources:
                row: dict[str, Any] = {
                    "fleet_id": fleet_id,
                    "resource": resource,
                    "last_attempt_at": now,
                    "last_error": error[:2000],
                    "updated_at": now,
                }
                # A resource never loaded gets its counts' column defaults (0); a known one keeps them.
                conn.execute(self.db.upsert(resource_syncs, row, _KEYS))

    def resource_syncs(self, fleet_ids: Iterable[str]) -> dict[str, list[ResourceSync]]:
        """Each asked fleet's ledger rows, by resource name ([] for a fleet never loaded)."""
        wanted = sorted(set(fleet_ids))
        found: dict[str, list[ResourceSync]] = {fleet_id: [] for fleet_id in wanted}
        if wanted:
            query = (
                select(resource_syncs)
                .where(resource_syncs.c.fleet_id.in_(wanted))
                .order_by(resource_syncs.c.fleet_id, resource_syncs.c.resource)
            )
            with self.db.engine.connect() as conn:
                for row in conn.execute(query):
                    found[row.fleet_id].append(_resource_sync(row))
        return found

    def rows_loaded(self, fleet_id: str) -> int:
        """Rows every load of the fleet wrote, all resources together (an upserted row counts each time)."""
        with self.db.engine.connect() as conn:
            total = conn.execute(
                select(func.sum(resource_syncs.c.rows_loaded)).where(resource_syncs.c.fleet_id == fleet_id)
            ).scalar()
        return int(total or 0)


def _resource_sync(row: Any) -> ResourceSync:
    """The ledger row as its read model (the counts and ``last_attempt_at`` are NOT NULL columns)."""
    return ResourceSync(
        fleet_id=row.fleet_id,
        resource=row.resource,
        fleet_ref=row.fleet_ref,
        rows_loaded=int(row.rows_loaded),
        last_rows=int(row.last_rows),
        cursor_value=to_utc(row.cursor_value),
        last_success_at=to_utc(row.last_success_at),
        last_attempt_at=cast(datetime, to_utc(row.last_attempt_at)),
        last_error=row.last_error,
    )

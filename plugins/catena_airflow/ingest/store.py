"""The operations database: fleet status, schedule holds, handler cursors and the ingestion sync ledger.

Any SQLAlchemy URL works; upserts use the dialect's native ``INSERT ... ON CONFLICT`` on SQLite and
PostgreSQL, and an update-then-insert fallback elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from sqlalchemy import Connection, Engine, Table, and_, create_engine, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from catena_airflow.ingest.schema import (
    event_cursors,
    execution_failures,
    fleet_status,
    metadata,
    resource_syncs,
    schedule_holds,
)
from catena_airflow.sqlite_wal import BUSY_TIMEOUT_MS, ensure_wal


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: datetime | str | None) -> datetime | None: ...
def as_utc(value: datetime | str | None) -> datetime | None:
    """Aware UTC datetime from an ISO string or a (possibly naive, as SQLite returns) datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True, kw_only=True)
class ResourceSync:
    """The ledger of one (fleet, resource): what its loads wrote and how current it is."""

    fleet_id: str
    resource: str
    fleet_ref: str | None
    rows_loaded: int
    last_rows: int
    cursor_value: datetime | None
    last_success_at: datetime | None
    last_attempt_at: datetime
    last_error: str | None

    def lag(self, now: datetime | None = None) -> timedelta | None:
        """How far the newest loaded row is behind ``now`` (None before any row had a cursor value)."""
        return None if self.cursor_value is None else (now or utcnow()) - self.cursor_value


def resource_sync_of(row: Any) -> ResourceSync:
    return ResourceSync(
        fleet_id=row.fleet_id,
        resource=row.resource,
        fleet_ref=row.fleet_ref,
        rows_loaded=int(row.rows_loaded or 0),
        last_rows=int(row.last_rows or 0),
        cursor_value=as_utc(row.cursor_value),
        last_success_at=as_utc(row.last_success_at),
        last_attempt_at=as_utc(row.last_attempt_at) or utcnow(),
        last_error=row.last_error,
    )


def read_resource_syncs(conn: Connection, fleet_ids: Iterable[str]) -> dict[str, list[ResourceSync]]:
    """Each asked fleet's ledger rows, by resource name ([] for a fleet never loaded); the dashboard reads
    them with its own read-only engine."""
    wanted = sorted(set(fleet_ids))
    found: dict[str, list[ResourceSync]] = {fleet_id: [] for fleet_id in wanted}
    if wanted:
        query = (
            select(resource_syncs)
            .where(resource_syncs.c.fleet_id.in_(wanted))
            .order_by(resource_syncs.c.fleet_id, resource_syncs.c.resource)
        )
        for row in conn.execute(query):
            found[row.fleet_id].append(resource_sync_of(row))
    return found


@dataclass(frozen=True)
class FleetStatus:
    """How the operations DAG last left a fleet."""

    fleet_id: str
    fleet_ref: str | None
    status: str
    ingestion_paused: bool
    reason: str | None
    updated_at: datetime


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    ensure_wal(cursor)
    cursor.close()


#: Schedule holds that keep their resource's ingestion paused.
HELD_STATES = ("awaiting_connection", "needs_decision")
REACTIVATION_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ScheduleHold:
    schedule_id: str
    connection_id: str
    state: str
    fleet_id: str | None = None
    fleet_ref: str | None = None
    resource: str | None = None
    reason: str | None = None
    reactivations: int = 0
    window_started_at: datetime | None = None
    updated_at: datetime | None = None


def _schedule_hold(row: Any) -> ScheduleHold:
    return ScheduleHold(
        schedule_id=row.schedule_id,
        connection_id=row.connection_id,
        state=row.state,
        fleet_id=row.fleet_id,
        fleet_ref=row.fleet_ref,
        resource=row.resource,
        reason=row.reason,
        reactivations=row.reactivations or 0,
        window_started_at=as_utc(row.window_started_at),
        updated_at=as_utc(row.updated_at),
    )


class DestinationStore:
    """Ingestion's bookkeeping; safe to share between threads (one engine, short transactions)."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _on_sqlite_connect)

    def migrate(self) -> None:
        """Create missing tables (idempotent).

        IF NOT EXISTS rather than create_all's check-then-create: mapped ingest tasks of a bulk run
        start together on a fresh destination, and the loser of that race would fail.
        """
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                conn.execute(CreateTable(table, if_not_exists=True))
                for index in table.indexes:
                    conn.execute(CreateIndex(index, if_not_exists=True))

    def dispose(self) -> None:
        self.engine.dispose()

    # -- sync ledger -------------------------------------------------------------------------------

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
        """A successful load of one resource: its rows added to the total, the cursor kept if it moved on."""
        now = at or utcnow()
        with self.engine.begin() as conn:
            current = self._sync_row(conn, fleet_id, resource)
            previous = as_utc(current.cursor_value) if current is not None else None
            reached = max((v for v in (previous, as_utc(cursor_value)) if v is not None), default=None)
            row = {
                "fleet_id": fleet_id,
                "resource": resource,
                "rows_loaded": (current.rows_loaded if current is not None else 0) + rows,
                "last_rows": rows,
                "cursor_value": reached,
                "last_success_at": now,
                "last_attempt_at": now,
                "last_error": None,
                "updated_at": now,
            }
            if fleet_ref is not None:
                row["fleet_ref"] = fleet_ref
            self._upsert(conn, resource_syncs, [row], ("fleet_id", "resource"))

    def record_sync_failure(
        self, *, fleet_id: str, resources: Iterable[str], error: str, at: datetime | None = None
    ) -> None:
        """A failed load: each resource keeps its totals and last success, and shows ``error``."""
        now = at or utcnow()
        with self.engine.begin() as conn:
            for resource in resources:
                current = self._sync_row(conn, fleet_id, resource)
                row = {
                    "fleet_id": fleet_id,
                    "resource": resource,
                    "last_attempt_at": now,
                    "last_error": error[:2000],
                    "updated_at": now,
                }
                if current is None:
                    row.update(rows_loaded=0, last_rows=0)
                self._upsert(conn, resource_syncs, [row], ("fleet_id", "resource"))

    def resource_syncs(self, fleet_ids: Iterable[str]) -> dict[str, list[ResourceSync]]:
        """Each asked fleet's ledger rows, by resource name ([] for a fleet never loaded)."""
        with self.engine.connect() as conn:
            return read_resource_syncs(conn, fleet_ids)

    def rows_loaded(self, fleet_id: str) -> int:
        """Rows every load of the fleet wrote, all resources together (an upserted row counts each time)."""
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.sum(resource_syncs.c.rows_loaded)).where(resource_syncs.c.fleet_id == fleet_id)
            ).scalar()
        return int(total or 0)

    @staticmethod
    def _sync_row(conn: Connection, fleet_id: str, resource: str) -> Any:
        return conn.execute(
            select(resource_syncs).where(resource_syncs.c.fleet_id == fleet_id, resource_syncs.c.resource == resource)
        ).first()

    # -- fleet operational status ------------------------------------------------------------------

    def set_fleet_status(
        self,
        fleet_id: str,
        *,
        status: str,
        ingestion_paused: bool,
        reason: str | None = None,
        fleet_ref: str | None = None,
    ) -> None:
        row: dict[str, Any] = {
            "fleet_id": fleet_id,
            "status": status,
            "ingestion_paused": ingestion_paused,
            "reason": reason,
            "updated_at": utcnow(),
        }
        if fleet_ref is not None:
            row["fleet_ref"] = fleet_ref
        with self.engine.begin() as conn:
            self._upsert(conn, fleet_status, [row], ("fleet_id",))

    def get_fleet_status(self, fleet_id: str) -> FleetStatus | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(fleet_status).where(fleet_status.c.fleet_id == fleet_id)).first()
        return None if row is None else self._fleet_status(row)

    def list_fleet_statuses(self, status: str) -> list[FleetStatus]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fleet_status).where(fleet_status.c.status == status).order_by(fleet_status.c.fleet_id)
            )
            return [self._fleet_status(row) for row in rows]

    @staticmethod
    def _fleet_status(row: Any) -> FleetStatus:
        return FleetStatus(
            fleet_id=row.fleet_id,
            fleet_ref=row.fleet_ref,
            status=row.status,
            ingestion_paused=bool(row.ingestion_paused),
            reason=row.reason,
            updated_at=as_utc(row.updated_at),
        )

    # -- execution failures ------------------------------------------------------------------------

    def record_execution_failure(
        self,
        *,
        event_id: str,
        schedule_id: str,
        execution_id: str | None = None,
        connection_id: str | None = None,
        fleet_id: str | None = None,
        resource: str | None = None,
        failed_at: datetime | None = None,
    ) -> bool:
        """Store one ``execution.failed`` event; False when this event id was already recorded."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(execution_failures.c.event_id).where(execution_failures.c.event_id == event_id)
            ).first()
            if exists:
                return False
            conn.execute(
                execution_failures.insert().values(
                    event_id=event_id,
                    execution_id=execution_id,
                    schedule_id=schedule_id,
                    connection_id=connection_id,
                    fleet_id=fleet_id,
                    resource=resource,
                    failed_at=failed_at,
                    recorded_at=utcnow(),
                )
            )
        return True

    def count_execution_failures(self, schedule_id: str, *, since: datetime | None = None) -> int:
        query = (
            select(func.count()).select_from(execution_failures).where(execution_failures.c.schedule_id == schedule_id)
        )
        if since is not None:
            query = query.where(execution_failures.c.recorded_at >= since)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    # -- deactivated schedules held back from reactivation -------------------------------------------

    def hold_schedule(
        self,
        schedule_id: str,
        *,
        connection_id: str,
        state: str,
        reason: str,
        fleet_id: str | None = None,
        fleet_ref: str | None = None,
        resource: str | None = None,
    ) -> None:
        """Keep a deactivated schedule from being reactivated for now (its resource's ingestion pauses)."""
        row = {
            "schedule_id": schedule_id,
            "connection_id": connection_id,
            "fleet_id": fleet_id,
            "fleet_ref": fleet_ref,
            "resource": resource,
            "state": state,
            "reason": reason,
            "updated_at": utcnow(),
        }
        with self.engine.begin() as conn:
            self._upsert(conn, schedule_holds, [{k: v for k, v in row.items() if v is not None}], ("schedule_id",))

    def get_schedule_hold(self, schedule_id: str) -> ScheduleHold | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schedule_holds).where(schedule_holds.c.schedule_id == schedule_id)).first()
        return None if row is None else _schedule_hold(row)

    def list_schedule_holds(self, *states: str, fleet_id: str | None = None) -> list[ScheduleHold]:
        query = select(schedule_holds).order_by(schedule_holds.c.schedule_id)
        if states:
            query = query.where(schedule_holds.c.state.in_(states))
        if fleet_id is not None:
            query = query.where(schedule_holds.c.fleet_id == fleet_id)
        with self.engine.connect() as conn:
            return [_schedule_hold(row) for row in conn.execute(query)]

    def reactivations_today(self, schedule_id: str, *, now: datetime | None = None) -> int:
        """How often the schedule was reactivated in its current 24-hour window."""
        hold = self.get_schedule_hold(schedule_id)
        now = now or utcnow()
        if hold is None or hold.window_started_at is None or now - hold.window_started_at > REACTIVATION_WINDOW:
            return 0
        return hold.reactivations

    def schedule_reactivated(self, schedule_id: str, *, connection_id: str, now: datetime | None = None) -> None:
        """The schedule is active again: its resource's ingestion resumes; count the reactivation."""
        now = now or utcnow()
        hold = self.get_schedule_hold(schedule_id)
        if hold is None or hold.window_started_at is None or now - hold.window_started_at > REACTIVATION_WINDOW:
            reactivations, window_started_at = 1, now  # a fresh window
        else:
            reactivations, window_started_at = hold.reactivations + 1, hold.window_started_at
        row = {
            "schedule_id": schedule_id,
            "connection_id": connection_id,
            "state": "reactivated",
            "reason": None,
            "reactivations": reactivations,
            "window_started_at": window_started_at,
            "updated_at": now,
        }
        with self.engine.begin() as conn:
            self._upsert(conn, schedule_holds, [row], ("schedule_id",))

    def paused_resources(self, fleet_id: str) -> dict[str, str]:
        """Catena resource -> why its ingestion is paused for this fleet (a held, deactivated schedule)."""
        holds = self.list_schedule_holds(*HELD_STATES, fleet_id=fleet_id)
        return {hold.resource: hold.reason or hold.state for hold in holds if hold.resource}

    # -- durable cursors ---------------------------------------------------------------------------

    def get_cursor(self, name: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(select(event_cursors.c.position).where(event_cursors.c.name == name)).scalar()
        return int(value or 0)

    def advance_cursor(self, name: str, position: int) -> None:
        """Move the cursor forward to ``position`` (never backwards)."""
        with self.engine.begin() as conn:
            current = conn.execute(select(event_cursors.c.position).where(event_cursors.c.name == name)).scalar()
            if current is None:
                conn.execute(event_cursors.insert().values(name=name, position=position, updated_at=utcnow()))
            elif position > current:
                conn.execute(
                    update(event_cursors)
                    .where(and_(event_cursors.c.name == name, event_cursors.c.position < position))
                    .values(position=position, updated_at=utcnow())
                )

    # -- portable upsert ---------------------------------------------------------------------------

    @staticmethod
    def _upsert(conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]], keys: tuple[str, ...]) -> None:
        rows = list(rows)
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            # Both dialects' INSERT has on_conflict_do_update and excluded (the base Insert has neither).
            insert: Callable[[Table], sqlite.Insert | postgresql.Insert] = (
                sqlite.insert if dialect == "sqlite" else postgresql.insert
            )
            # Group by column set: one statement per shape keeps each upsert a single round trip.
            by_shape: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
            for row in rows:
                by_shape.setdefault(tuple(sorted(row)), []).append(row)
            for columns, shaped in by_shape.items():
                stmt = insert(table).values(shaped)
                updates = {c: stmt.excluded[c] for c in columns if c not in keys}
                conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=updates))
            return
        for row in rows:
            condition = and_(*(table.c[k] == row[k] for k in keys))
            if conn.execute(update(table).where(condition).values(**row)).rowcount == 0:
                conn.execute(table.insert().values(**row))

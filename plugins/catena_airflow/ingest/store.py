"""The destination database: idempotent upserts of Catena rows, watermarks and operational bookkeeping.

Any SQLAlchemy URL works; upserts use the dialect's native ``INSERT ... ON CONFLICT`` on SQLite and
PostgreSQL, and an update-then-insert fallback elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, create_engine, event, func, select, update
from sqlalchemy.schema import CreateIndex, CreateTable

from catena_airflow.ingest.schema import (
    event_cursors,
    execution_failures,
    fleet_status,
    metadata,
    schedule_holds,
    vehicle_locations,
    vehicles,
    watermarks,
)
from catena_airflow.sqlite_wal import BUSY_TIMEOUT_MS, ensure_wal


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | str | None) -> datetime | None:
    """Aware UTC datetime from an ISO string or a (possibly naive, as SQLite returns) datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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
    """Where ingested fleet data lands; safe to share between threads (one engine, short transactions)."""

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

    # -- telematics rows ---------------------------------------------------------------------------

    def apply_page(
        self,
        *,
        fleet_id: str,
        resource: str,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        watermark: datetime | None,
    ) -> int:
        """Upsert one page of rows and advance the (fleet, resource) watermark in one transaction.

        The watermark never moves backwards, so replaying an old page cannot lose progress.
        """
        now = utcnow()
        with self.engine.begin() as conn:
            if rows:
                self._upsert(conn, table, [{**row, "ingested_at": now} for row in rows], ("id",))
            current = conn.execute(
                select(watermarks.c.watermark, watermarks.c.rows_total).where(
                    watermarks.c.fleet_id == fleet_id, watermarks.c.resource == resource
                )
            ).first()
            previous = as_utc(current.watermark) if current else None
            advanced = max(w for w in (previous, watermark) if w is not None) if (previous or watermark) else None
            self._upsert(
                conn,
                watermarks,
                [
                    {
                        "fleet_id": fleet_id,
                        "resource": resource,
                        "watermark": advanced,
                        "rows_total": (current.rows_total if current else 0) + len(rows),
                        "updated_at": now,
                    }
                ],
                ("fleet_id", "resource"),
            )
        return len(rows)

    def get_watermark(self, fleet_id: str, resource: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(watermarks.c.watermark).where(
                    watermarks.c.fleet_id == fleet_id, watermarks.c.resource == resource
                )
            ).scalar()
        return as_utc(value)

    def count_rows(self, table: Table, fleet_id: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(table).where(table.c.fleet_id == fleet_id)
            ).scalar_one()

    def count_vehicles(self, fleet_id: str) -> int:
        return self.count_rows(vehicles, fleet_id)

    def count_vehicle_locations(self, fleet_id: str) -> int:
        return self.count_rows(vehicle_locations, fleet_id)

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
            updated_at=as_utc(row.updated_at),  # type: ignore[arg-type]
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
        fresh_window = (
            hold is None or hold.window_started_at is None or now - hold.window_started_at > REACTIVATION_WINDOW
        )
        row = {
            "schedule_id": schedule_id,
            "connection_id": connection_id,
            "state": "reactivated",
            "reason": None,
            "reactivations": 1 if fresh_window else hold.reactivations + 1,
            "window_started_at": now if fresh_window else hold.window_started_at,
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
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
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

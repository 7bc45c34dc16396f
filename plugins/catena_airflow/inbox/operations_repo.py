"""The operations DAG's state: each fleet's status, execution failures, and held schedules.

Written by the handlers of operators/operations.py (and read by the ingestion tasks, which skip a
paused fleet or a held resource). Writes are ``InboxDatabase.write(ordered=False)``: ``BEGIN IMMEDIATE``
on SQLite, a plain transaction on PostgreSQL (they allocate no ``seq``, so they neither wait for nor hold
up the receiver's writers). Several are read-modify-write (a failure recorded once, a reactivation
counted in its window): the operations DAG runs its handlers one at a time (``max_active_runs=1``), and a
failure recorded twice at once would still meet the event id's primary key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from catena_airflow.inbox.engine import InboxDatabase, retried_when_busy
from catena_airflow.inbox.operations_models import HELD_STATES, REACTIVATION_WINDOW, FleetStatus, ScheduleHold
from catena_airflow.inbox.projection import to_utc
from catena_airflow.inbox.schema import execution_failures, fleet_status, schedule_holds


class OperationsRepo:
    """The ``catena_fleet_status``, ``catena_execution_failures`` and ``catena_schedule_holds`` tables (v5)."""

    def __init__(self, db: InboxDatabase) -> None:
        self.db = db

    # --- fleet operational status ---------------------------------------------------------------

    @retried_when_busy
    def set_fleet_status(
        self,
        fleet_id: str,
        *,
        status: str,
        ingestion_paused: bool,
        reason: str | None = None,
        fleet_ref: str | None = None,
    ) -> None:
        """Record how the operations DAG leaves the fleet (a ``fleet_ref`` already known is kept when None)."""
        row: dict[str, Any] = {
            "fleet_id": fleet_id,
            "status": status,
            "ingestion_paused": ingestion_paused,
            "reason": reason,
            "updated_at": datetime.now(UTC),
        }
        if fleet_ref is not None:
            row["fleet_ref"] = fleet_ref
        with self.db.write(ordered=False) as conn:
            conn.execute(self.db.upsert(fleet_status, row, ("fleet_id",)))

    def get_fleet_status(self, fleet_id: str) -> FleetStatus | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(fleet_status).where(fleet_status.c.fleet_id == fleet_id)).first()
        return None if row is None else _fleet_status(row)

    def list_fleet_statuses(self, status: str) -> list[FleetStatus]:
        query = select(fleet_status).where(fleet_status.c.status == status).order_by(fleet_status.c.fleet_id)
        with self.db.engine.connect() as conn:
            return [_fleet_status(row) for row in conn.execute(query)]

    # --- execution failures ---------------------------------------------------------------------

    @retried_when_busy
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
        with self.db.write(ordered=False) as conn:
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
                    recorded_at=datetime.now(UTC),
                )
            )
        return True

    def count_execution_failures(self, schedule_id: str, *, since: datetime | None = None) -> int:
        query = (
            select(func.count()).select_from(execution_failures).where(execution_failures.c.schedule_id == schedule_id)
        )
        if since is not None:
            query = query.where(execution_failures.c.recorded_at >= since)
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    # --- deactivated schedules held back from reactivation --------------------------------------

    @retried_when_busy
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
            "updated_at": datetime.now(UTC),
        }
        given = {column: value for column, value in row.items() if value is not None}
        with self.db.write(ordered=False) as conn:
            conn.execute(self.db.upsert(schedule_holds, given, ("schedule_id",)))

    def get_schedule_hold(self, schedule_id: str) -> ScheduleHold | None:
        with self.db.engine.connect() as conn:
            return _hold_in(conn, schedule_id)

    def list_schedule_holds(self, *states: str, fleet_id: str | None = None) -> list[ScheduleHold]:
        query = select(schedule_holds).order_by(schedule_holds.c.schedule_id)
        if states:
            query = query.where(schedule_holds.c.state.in_(states))
        if fleet_id is not None:
            query = query.where(schedule_holds.c.fleet_id == fleet_id)
        with self.db.engine.connect() as conn:
            return [_schedule_hold(row) for row in conn.execute(query)]

    def reactivations_today(self, schedule_id: str, *, now: datetime | None = None) -> int:
        """How often the schedule was reactivated in its current 24-hour window."""
        hold = self.get_schedule_hold(schedule_id)
        now = now or datetime.now(UTC)
        if hold is None or hold.window_started_at is None or now - hold.window_started_at > REACTIVATION_WINDOW:
            return 0
        return hold.reactivations

    @retried_when_busy
    def schedule_reactivated(self, schedule_id: str, *, connection_id: str, now: datetime | None = None) -> None:
        """The schedule is active again: its resource's ingestion resumes; count the reactivation."""
        now = now or datetime.now(UTC)
        with self.db.write(ordered=False) as conn:
            hold = _hold_in(conn, schedule_id)
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
            conn.execute(self.db.upsert(schedule_holds, row, ("schedule_id",)))

    def paused_resources(self, fleet_id: str) -> dict[str, str]:
        """Catena resource -> why its ingestion is paused for this fleet (a held, deactivated schedule)."""
        holds = self.list_schedule_holds(*HELD_STATES, fleet_id=fleet_id)
        return {hold.resource: hold.reason or hold.state for hold in holds if hold.resource}


def _hold_in(conn: Connection, schedule_id: str) -> ScheduleHold | None:
    row = conn.execute(select(schedule_holds).where(schedule_holds.c.schedule_id == schedule_id)).first()
    return None if row is None else _schedule_hold(row)


def _fleet_status(row: Any) -> FleetStatus:
    return FleetStatus(
        fleet_id=row.fleet_id,
        fleet_ref=row.fleet_ref,
        status=row.status,
        ingestion_paused=bool(row.ingestion_paused),
        reason=row.reason,
        updated_at=to_utc(row.updated_at),
    )


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
        window_started_at=to_utc(row.window_started_at),
        updated_at=to_utc(row.updated_at),
    )

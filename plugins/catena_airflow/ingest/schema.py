"""Tables of the operations database: the bookkeeping around ingestion (the data goes to dlt's destination).

Kept apart from the warehouse dlt loads into, which may be DuckDB (one writer at a time), BigQuery or a
bucket: the operations DAG, the ingestion tasks and the dashboard read and write these small tables often
and concurrently, which needs an ordinary transactional database.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

UTC_DATETIME = DateTime(timezone=True)

metadata = MetaData()

# One row per (fleet, resource): what the loads of that resource wrote, when the last one succeeded,
# how far its cursor reached (its lag) and the last failure. The data itself is in the dlt destination.
resource_syncs = Table(
    "resource_syncs",
    metadata,
    Column("fleet_id", String(64), primary_key=True),
    Column("resource", String(64), primary_key=True),
    Column("fleet_ref", String(255)),
    Column("rows_loaded", Integer, nullable=False, default=0),
    Column("last_rows", Integer, nullable=False, default=0),
    Column("cursor_value", UTC_DATETIME),
    Column("last_success_at", UTC_DATETIME),
    Column("last_attempt_at", UTC_DATETIME, nullable=False),
    Column("last_error", Text),
    Column("updated_at", UTC_DATETIME, nullable=False),
)

# Operational state of each fleet as the operations DAG sees it (stale connection, paused ingestion).
fleet_status = Table(
    "fleet_status",
    metadata,
    Column("fleet_id", String(64), primary_key=True),
    Column("fleet_ref", String(255)),
    Column("status", String(32), nullable=False),
    Column("ingestion_paused", Boolean, nullable=False, default=False),
    Column("reason", Text),
    Column("updated_at", UTC_DATETIME, nullable=False),
)

# execution.failed events, one row per Catena event id, to count failures per schedule.
execution_failures = Table(
    "execution_failures",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("execution_id", String(64)),
    Column("schedule_id", String(64), nullable=False),
    Column("connection_id", String(64)),
    Column("fleet_id", String(64)),
    Column("resource", String(64)),
    Column("failed_at", UTC_DATETIME),
    Column("recorded_at", UTC_DATETIME, nullable=False),
    Index("ix_execution_failures_schedule", "schedule_id", "recorded_at"),
)

# Schedules Catena deactivated that the operations DAG did not reactivate (yet): their resource's
# ingestion is paused for the fleet until the cause has passed or a person decides.
schedule_holds = Table(
    "schedule_holds",
    metadata,
    Column("schedule_id", String(64), primary_key=True),
    Column("connection_id", String(64), nullable=False),
    Column("fleet_id", String(64)),
    Column("fleet_ref", String(255)),
    Column("resource", String(64)),
    # awaiting_connection | needs_decision | reactivated
    Column("state", String(32), nullable=False),
    Column("reason", Text),
    # Reactivations within the current 24-hour window (bounded, see operators/operations.py).
    Column("reactivations", Integer, nullable=False, default=0),
    Column("window_started_at", UTC_DATETIME),
    Column("updated_at", UTC_DATETIME, nullable=False),
    Index("ix_schedule_holds_fleet", "fleet_id", "state"),
)

# Durable "handled up to inbox seq N" cursors of the operations DAG's handlers.
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("updated_at", UTC_DATETIME, nullable=False),
)

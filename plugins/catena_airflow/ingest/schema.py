"""Tables of the destination database: ingested telematics rows and the bookkeeping around them.

Rows are keyed by Catena's own ids, so re-ingesting a page is an upsert, never a duplicate.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

UTC_DATETIME = DateTime(timezone=True)

metadata = MetaData()

vehicles = Table(
    "vehicles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("fleet_id", String(64), nullable=False),
    Column("fleet_ref", String(255)),
    Column("connection_id", String(64)),
    Column("source_id", String(255)),
    Column("vehicle_name", String(255)),
    Column("vin", String(64)),
    Column("license_plate_number", String(64)),
    Column("is_active", Boolean),
    Column("status", String(64)),
    Column("occurred_at", UTC_DATETIME),
    Column("updated_at", UTC_DATETIME),
    Column("deleted_at", UTC_DATETIME),
    # The whole Catena record, so nothing the API sends is lost to the column choice above.
    Column("record", JSON, nullable=False),
    Column("ingested_at", UTC_DATETIME, nullable=False),
    Index("ix_vehicles_fleet_id", "fleet_id"),
)

vehicle_locations = Table(
    "vehicle_locations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("fleet_id", String(64), nullable=False),
    Column("fleet_ref", String(255)),
    Column("vehicle_id", String(64)),
    Column("occurred_at", UTC_DATETIME),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("speed", Float),
    Column("odometer", Float),
    Column("record", JSON, nullable=False),
    Column("ingested_at", UTC_DATETIME, nullable=False),
    Index("ix_vehicle_locations_fleet_occurred", "fleet_id", "occurred_at"),
)

# One row per (fleet, resource): how far ingestion got, advanced page by page.
watermarks = Table(
    "watermarks",
    metadata,
    Column("fleet_id", String(64), primary_key=True),
    Column("resource", String(64), primary_key=True),
    Column("watermark", UTC_DATETIME),
    Column("rows_total", Integer, nullable=False, default=0),
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

"""Inbox tables, and the versioned migrations that create and upgrade them.

The schema is plain SQLAlchemy metadata plus a one-row ``schema_version`` table; each entry of
``MIGRATIONS`` upgrades the database by one version inside one transaction, so a crash mid-upgrade
leaves the previous version in place.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.schema import CreateTable

# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets a 64-bit identity.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")
UTC_DATETIME = DateTime(timezone=True)

metadata = MetaData()

schema_version = Table(
    "catena_schema_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

events = Table(
    "catena_events",
    metadata,
    # Monotonic cursor for watchers; commit order equals seq order (see store.py).
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    # Catena's event id (stable across retries and DLQ replays); the dedupe key.
    Column("event_id", String(), nullable=False),
    Column("event_name", String(), nullable=False),
    Column("webhook_id", String()),
    Column("request_id", String()),
    Column("received_at", UTC_DATETIME, nullable=False),
    Column("event_timestamp", UTC_DATETIME),
    Column("fleet_id", String()),
    Column("fleet_ref", String()),
    # Set once the event is correlated with an onboarding; NULL while it is held (or not onboarding-related).
    Column("invitation_id", String()),
    Column("connection_id", String()),
    # An onboarding-family event that names only a fleet/connection not yet linked to an invitation.
    Column("held", Boolean, nullable=False, default=False),
    Column("delivery_attempt", Integer),
    Column("payload", Text, nullable=False),
    UniqueConstraint("event_id", name="uq_catena_events_event_id"),
    Index("ix_catena_events_name_seq", "event_name", "seq"),
)
# Held events are few: partial indexes keep their lookups cheap without indexing every telematics event.
_HELD = events.c.held == true()
Index("ix_catena_events_held_fleet_id", events.c.fleet_id, sqlite_where=_HELD, postgresql_where=_HELD)
Index("ix_catena_events_held_connection_id", events.c.connection_id, sqlite_where=_HELD, postgresql_where=_HELD)
# v3: share agreements wait by fleet ref until the ref has a live onboarding.
held_by_fleet_ref = Index(
    "ix_catena_events_held_fleet_ref", events.c.fleet_ref, sqlite_where=_HELD, postgresql_where=_HELD
)

onboardings = Table(
    "catena_onboardings",
    metadata,
    Column("invitation_id", String(), primary_key=True),
    Column("fleet_ref", String()),
    Column("fleet_id", String()),
    Column("stage", String(), nullable=False),
    Column("invitation_status", String()),
    Column("decline_reason", Text),
    Column("magic_link", Text),
    Column("expires_at", UTC_DATETIME),
    Column("connected_at", UTC_DATETIME),
    Column("dag_id", String()),
    Column("run_id", String()),
    # The rest of the projected state (stage times, share agreement, connections, schedules,
    # redirects, last-writer-wins clocks) as one JSON document: read and written as a whole.
    Column("state", JSON, nullable=False),
    Column("created_at", UTC_DATETIME, nullable=False),
    Column("updated_at", UTC_DATETIME, nullable=False),
    Index("ix_catena_onboardings_fleet_id", "fleet_id"),
    Index("ix_catena_onboardings_fleet_ref", "fleet_ref"),
    Index("ix_catena_onboardings_stage", "stage"),
    Index("ix_catena_onboardings_updated_at", "updated_at"),
)

# Connection id -> onboarding, for events that carry only a connection id (schedule.deactivated).
onboarding_connections = Table(
    "catena_onboarding_connections",
    metadata,
    Column("connection_id", String(), primary_key=True),
    Column("invitation_id", String(), nullable=False),
)

subscriptions = Table(
    "catena_subscriptions",
    metadata,
    Column("webhook_id", String(), primary_key=True),
    # "fernet:<token>" or "plain:<secret>" (see crypto.py).
    Column("secret", Text, nullable=False),
    Column("event_name", String()),
    Column("url", Text),
    Column("updated_at", UTC_DATETIME, nullable=False),
    # v2, rotation without a gap: the next secret is stored before Catena is told (so deliveries signed
    # with it verify at once), and the replaced one stays valid until previous_secret_until.
    Column("next_secret", Text),
    Column("previous_secret", Text),
    Column("previous_secret_until", UTC_DATETIME),
)
_SUBSCRIPTIONS_V2_COLUMNS = ("next_secret", "previous_secret", "previous_secret_until")

# Hourly counters for the receiver dashboard (events stored, duplicates, signature failures, ...).
receiver_counters = Table(
    "catena_receiver_counters",
    metadata,
    Column("counter", String(), primary_key=True),
    Column("hour", UTC_DATETIME, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# v4: the durable cursors of the inbox's readers, one row per reader name: the ``seq`` it got to. The
# watchers (triggers/inbox_events.py, ``watcher:...``: the last event emitted) and, since v5, the
# operations handlers (``operations:...``: the last event handled). Before v4 the trigger created this
# table itself; the name and columns are unchanged, so the rows such a database holds stay valid.
watcher_cursors = Table(
    "catena_airflow_watcher_cursors",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", UTC_DATETIME, nullable=False),
)

# v5: the operations state, which had a separate "operations database" before (gone with v5; there was no
# data to carry over). Same columns as there; the operations handlers' "handled" cursors went to
# ``watcher_cursors`` (one table for every reader's position in ``seq``).

# One row per (fleet, resource): what the loads of that resource wrote, when the last one succeeded,
# how far its cursor reached (its lag) and the last failure. The data itself is in dlt's warehouse.
resource_syncs = Table(
    "catena_resource_syncs",
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
    "catena_fleet_status",
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
    "catena_execution_failures",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("execution_id", String(64)),
    Column("schedule_id", String(64), nullable=False),
    Column("connection_id", String(64)),
    Column("fleet_id", String(64)),
    Column("resource", String(64)),
    Column("failed_at", UTC_DATETIME),
    Column("recorded_at", UTC_DATETIME, nullable=False),
    Index("ix_catena_execution_failures_schedule", "schedule_id", "recorded_at"),
)

# Schedules Catena deactivated that the operations DAG did not reactivate (yet): their resource's
# ingestion is paused for the fleet until the cause has passed or a person decides.
schedule_holds = Table(
    "catena_schedule_holds",
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
    Index("ix_catena_schedule_holds_fleet", "fleet_id", "state"),
)

_OPERATIONS_TABLES_V5 = (resource_syncs, fleet_status, execution_failures, schedule_holds)

ALL_TABLES = (
    schema_version,
    events,
    onboardings,
    onboarding_connections,
    subscriptions,
    receiver_counters,
    watcher_cursors,
    *_OPERATIONS_TABLES_V5,
)
# Tables a later version creates (not part of v1).
_LATER_TABLES = frozenset({watcher_cursors.name, *(table.name for table in _OPERATIONS_TABLES_V5)})


def _create_v1(conn: Connection) -> None:
    """The v1 tables exactly as released (columns and indexes added by later versions are left to their steps)."""
    v1 = MetaData()
    for table in ALL_TABLES:
        if table.name in _LATER_TABLES:
            continue
        if table is subscriptions:
            columns = [c.copy() for c in table.columns if c.name not in _SUBSCRIPTIONS_V2_COLUMNS]
            Table(table.name, v1, *columns)
        else:
            copy = table.to_metadata(v1)
            for index in list(copy.indexes):
                if index.name in _LATER_INDEXES:
                    copy.indexes.discard(index)
    v1.create_all(conn)


def _add_rotation_columns_v2(conn: Connection) -> None:
    preparer = conn.dialect.identifier_preparer
    for name in _SUBSCRIPTIONS_V2_COLUMNS:
        column = subscriptions.c[name]
        ddl_type = column.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(
            f"ALTER TABLE {preparer.format_table(subscriptions)} ADD COLUMN {preparer.quote(name)} {ddl_type}"
        )


def _index_held_fleet_refs_v3(conn: Connection) -> None:
    held_by_fleet_ref.create(conn)


def _create_watcher_cursors_v4(conn: Connection) -> None:
    # IF NOT EXISTS: a database that a pre-v4 trigger used already has the table (same definition),
    # and its rows are the watchers' positions.
    conn.execute(CreateTable(watcher_cursors, if_not_exists=True))


def _create_operations_tables_v5(conn: Connection) -> None:
    for table in _OPERATIONS_TABLES_V5:
        table.create(conn)  # with its indexes


_LATER_INDEXES = frozenset({held_by_fleet_ref.name})

# version -> the step that upgrades version-1 to version. Append, never edit a released step.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create_v1,
    2: _add_rotation_columns_v2,
    3: _index_held_fleet_refs_v3,
    4: _create_watcher_cursors_v4,
    5: _create_operations_tables_v5,
}
SCHEMA_VERSION = max(MIGRATIONS)

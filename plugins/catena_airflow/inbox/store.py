"""InboxStore: the one gateway to the inbox database (sync SQLAlchemy 2; SQLite or PostgreSQL).

Guarantees the rest of the system relies on:

- an event is stored once per Catena event id (``INSERT ... ON CONFLICT DO NOTHING``);
- storing an event and updating the onboarding rows it concerns is one transaction;
- ``seq`` order is commit order, so a watcher that read up to ``seq`` N never later finds a smaller
  one: SQLite has a single writer, and on PostgreSQL every writing transaction takes one
  transaction-scoped advisory lock before it allocates a ``seq``;
- writers are serialized on both engines, so the read-modify-write of an onboarding row is safe;
- a group-committed batch (``record_events``) is projected in memory with a bounded number of
  statements (batch.py), with the same result as applying its events one by one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    false,
    func,
    inspect,
    or_,
    select,
    true,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError
from sqlalchemy.pool import StaticPool

from catena_airflow.client._base import status_value
from catena_airflow.client.events import CONNECTION_STALED
from catena_airflow.inbox import correlation, pg_transaction, projection
from catena_airflow.inbox.batch import PendingEvent, ProjectionBatch
from catena_airflow.inbox.checkpoint import WalCheckpointer
from catena_airflow.inbox.crypto import SecretCipher
from catena_airflow.inbox.models import HourlyCount, Onboarding, RecordOutcome, Stage, StoredEvent, WebhookStats
from catena_airflow.inbox.projection import EventRecord, State
from catena_airflow.inbox.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    events,
    onboardings,
    receiver_counters,
    schema_version,
    subscriptions,
)
from catena_airflow.inbox.statements import HotStatements, dialect_insert
from catena_airflow.sqlite_wal import BUSY_TIMEOUT_MS, ensure_wal

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock that serializes inbox writers ("CATENA" in spirit).
_WRITER_LOCK_KEY = 0x0C47E4A
# PostgreSQL session bounds (see _pg_session_options). Catena waits 3 s for an answer, the receiver
# 2.5 s for a commit: a writer that cannot get the lock in 2 s gives up (the delivery is answered 503
# and retried) rather than commit after its request was already answered.
_PG_LOCK_TIMEOUT_SECONDS = 2.0
_PG_STATEMENT_TIMEOUT_MS = 60_000
_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000
# Whole-transaction attempts when SQLite still reports "database is locked" after its busy wait.
_BUSY_RETRIES = 6

T = TypeVar("T")

COUNTER_EVENTS = "events"
COUNTER_DUPLICATES = "duplicates"
COUNTER_SIGNATURE_FAILURES = "signature_failures"
COUNTER_REJECTED = "rejected"


@dataclass(frozen=True)
class IncomingEvent:
    """One verified delivery, ready to be recorded (the envelope's fields, flattened)."""

    event_id: str
    event_name: str
    webhook_id: str | None
    event_timestamp: datetime | None
    delivery_attempt: int | None
    data: Sequence[Any]
    body: str
    received_at: datetime
    request_id: str | None = None

    @classmethod
    def from_envelope(
        cls,
        envelope: Any,
        raw_body: bytes | str,
        *,
        received_at: datetime | None = None,
        request_id: str | None = None,
    ) -> IncomingEvent:
        """From the client's ``WebhookEnvelope`` (or a dict of the same fields) and the exact body bytes."""
        body = _redact(raw_body if isinstance(raw_body, str) else raw_body.decode("utf-8"))
        event_id = _opt_str(_field(envelope, "id"))
        if not event_id:
            # Catena documents ``id`` as nullable; the body hash keeps redeliveries of one message unique.
            event_id = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
        elif len(event_id) > _MAX_KEY_LENGTH:
            # Catena's ids are UUIDs; hashing an absurd one keeps it unique and indexable.
            event_id = "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()
        return cls(
            event_id=event_id,
            event_name=str(_field(envelope, "event_name") or ""),
            webhook_id=_opt_str(_field(envelope, "webhook_id")),
            event_timestamp=projection.to_utc(_field(envelope, "timestamp")),
            delivery_attempt=_field(envelope, "delivery_attempt"),
            data=list(_field(envelope, "data") or []),
            body=body,
            received_at=projection.to_utc(received_at) or datetime.now(UTC),
            request_id=request_id,
        )

    def records(self) -> list[EventRecord]:
        return projection.records_of(
            self.event_id, self.event_name, self.data, self.event_timestamp or self.received_at
        )


_MAX_KEY_LENGTH = 200

# Fleet-side credentials Catena includes in invitation records; the inbox never keeps them.
_REDACTED_FIELDS = ("pre_registration_access_token", "pre_registration_refresh_token")


def _redact(body: str) -> str:
    """The body to store: as received, unless it carries credentials, which are masked."""
    if "pre_registration_" not in body:
        return body
    try:
        envelope = json.loads(body)
    except ValueError:
        return body
    changed = False
    for record in envelope.get("data") or [] if isinstance(envelope, dict) else []:
        if isinstance(record, dict):
            for name in _REDACTED_FIELDS:
                if record.get(name) is not None:
                    record[name] = "**********"
                    changed = True
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) if changed else body


_DUPLICATE = RecordOutcome(stored=False, duplicate=True, seq=None)


def _event_row(item: IncomingEvent) -> dict[str, Any]:
    first = item.data[0] if item.data and isinstance(item.data[0], Mapping) else {}
    return {
        "event_id": item.event_id,
        "event_name": item.event_name,
        "webhook_id": item.webhook_id,
        "request_id": item.request_id,
        "received_at": item.received_at,
        "event_timestamp": item.event_timestamp,
        "fleet_id": _opt_str(first.get("fleet_id")),
        "fleet_ref": _opt_str(first.get("fleet_ref")),
        "invitation_id": None,
        "connection_id": None,
        "held": False,
        "delivery_attempt": item.delivery_attempt,
        "payload": item.body,
    }


def _correlated(row: dict[str, Any], projected: PendingEvent) -> dict[str, Any]:
    """The event row with what its projection found: its onboarding, or held until it can be applied."""
    if not projected.records:
        return row
    # Correlated by its first record (Catena sends one record per onboarding event); a held event is
    # found again by these keys.
    keys = correlation.correlation_keys(projected.records[0])
    return {
        **row,
        "invitation_id": projected.applied_to or keys.invitation_id,
        "connection_id": keys.connection_id,
        "fleet_id": keys.fleet_id or row["fleet_id"],
        "fleet_ref": keys.fleet_ref or row["fleet_ref"],
        "held": not projected.applied and not projected.creates_onboarding,
    }


def _field(envelope: Any, name: str) -> Any:
    if isinstance(envelope, Mapping):
        return envelope.get(name)
    return getattr(envelope, name, None)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _retried_when_busy(method: Callable[..., T]) -> Callable[..., T]:
    """A writing method whose whole transaction is run again if SQLite lost a lock race."""

    @functools.wraps(method)
    def retried(self: InboxStore, *args: Any, **kwargs: Any) -> T:
        return self._retry_when_busy(method, self, *args, **kwargs)

    return retried


class InboxStore:
    """The inbox database. Thread-safe; create one per process and share it."""

    def __init__(
        self,
        url: str,
        *,
        fernet_key: str | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        sqlite_synchronous: str = "FULL",
        checkpoint_in_background: bool = False,
        pg_lock_timeout: float = _PG_LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self._cipher = SecretCipher(fernet_key=fernet_key)
        self.engine: Engine = _create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            sqlite_synchronous=sqlite_synchronous,
            sqlite_autocheckpoint=not checkpoint_in_background,
            pg_lock_timeout=pg_lock_timeout,
        )
        self.dialect = self.engine.dialect.name
        # PostgreSQL writers get connections of their own that stay in autocommit mode: the writing
        # transaction sends BEGIN and COMMIT itself (pg_transaction.py), and switching a pooled
        # connection's mode per transaction would cost the writer what it saves.
        self._writer_engine: Engine | None = None
        if self.dialect == "postgresql":
            self._writer_engine = _create_engine(
                url,
                pool_size=2,
                max_overflow=max_overflow,
                sqlite_synchronous=sqlite_synchronous,
                sqlite_autocheckpoint=True,
                pg_lock_timeout=pg_lock_timeout,
                pg_autocommit=True,
            )
            pg_transaction.install(self._writer_engine)
        self._checkpointer: WalCheckpointer | None = None
        if checkpoint_in_background and self.dialect == "sqlite" and _is_sqlite_file(url):
            self._checkpointer = WalCheckpointer(self.engine)
            self._checkpointer.start()
        self._insert = dialect_insert(self.dialect)
        self.statements = HotStatements.build(self.dialect)

    def __repr__(self) -> str:
        return f"InboxStore({make_url(self.url).render_as_string(hide_password=True)!r})"

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._writer_engine is not None:
            self._writer_engine.dispose()
        self.engine.dispose()

    # --- schema ---------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema to ``SCHEMA_VERSION``; returns the version now in place.

        Every process calls this at start-up (and the receiver after a failed commit), so the usual case,
        an up-to-date schema, is one read and takes no write lock; the DDL runs only when the schema
        really changes, under the writer lock, after re-reading the version there.
        """
        if self._checked_version() == SCHEMA_VERSION:
            return SCHEMA_VERSION
        return self._retry_when_busy(self._upgrade)

    def _upgrade(self) -> int:
        with self._write() as conn:
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1)).scalar()
            current = _check_not_newer(current or 0)
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](conn)
                log.info("Catena inbox schema migrated to version %d", version)
            if current == 0:
                conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION))
            elif current < SCHEMA_VERSION:
                conn.execute(schema_version.update().where(schema_version.c.id == 1).values(version=SCHEMA_VERSION))
        return SCHEMA_VERSION

    def _checked_version(self) -> int:
        return _check_not_newer(self.schema_version())

    def schema_version(self) -> int:
        """The version in place (0: no schema yet). A pure read: never creates anything."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(schema_version.name):
                return 0
            return conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1)).scalar() or 0

    def _retry_when_busy(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a whole writing transaction again when SQLite said "database is locked" (a lost race), or
        once when a PostgreSQL connection from the pool turned out dead.

        The busy timeout already waited; a few more whole-transaction attempts cover what it does not
        (a deferred reader upgrading, a journal-mode switch, a start-up stampede) instead of failing.
        After a database restart or a network cut every pooled connection is dead: the first use finds
        it and SQLAlchemy invalidates the pool, so one more attempt runs on a fresh connection instead of
        failing the first webhook after the outage (a replayed one would go back to Catena's DLQ). If
        the first attempt had committed after all, the second finds its events stored (duplicates).
        """
        attempt = 0
        reconnected = False
        while True:
            try:
                return write(*args, **kwargs)
            except (DBAPIError, PendingRollbackError) as exc:
                if self.dialect == "postgresql" and not reconnected and _lost_connection(exc):
                    reconnected = True
                    log.warning("Catena inbox connection was lost (%s); retrying on a new one", type(exc).__name__)
                    continue
                busy = isinstance(exc, OperationalError) and self.dialect == "sqlite" and _is_sqlite_busy(exc)
                if not busy or attempt == _BUSY_RETRIES - 1:
                    raise
                log.warning("Catena inbox busy (attempt %d of %d); retrying", attempt + 1, _BUSY_RETRIES)
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
                attempt += 1

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A writing transaction: ``BEGIN IMMEDIATE`` on SQLite, the writer lock on PostgreSQL."""
        if self._writer_engine is not None:
            with pg_transaction.write_transaction(self._writer_engine, lock_key=_WRITER_LOCK_KEY) as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.execution_options(catena_write=True)
            with conn.begin():
                yield conn

    # --- events ---------------------------------------------------------------------------------

    def record_event(
        self,
        envelope: Any,
        raw_body: bytes | str,
        *,
        received_at: datetime | None = None,
        request_id: str | None = None,
    ) -> RecordOutcome:
        """Store one delivery and project it onto its onboarding, in one transaction."""
        item = IncomingEvent.from_envelope(envelope, raw_body, received_at=received_at, request_id=request_id)
        return self.record_events([item])[0]

    @_retried_when_busy
    def record_events(
        self, items: Sequence[IncomingEvent], *, counters: Mapping[str, int] | None = None
    ) -> list[RecordOutcome]:
        """Store several deliveries in ONE transaction (group commit); outcomes in input order.

        ``counters`` (e.g. signature failures seen meanwhile) are added in the same transaction.
        """
        outcomes: list[RecordOutcome] = [_DUPLICATE] * len(items)
        # Everything that needs no database is done before taking the (serializing) write lock.
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            first.setdefault(item.event_id, i)  # later copies in the batch are redeliveries
        unique = sorted(first.values())
        projected = {i: items[i].records() for i in unique if projection.is_projected(items[i].event_name)}
        base_rows = {i: _event_row(items[i]) for i in unique}
        hot = self.statements
        with self._write() as conn:
            now = datetime.now(UTC)
            pending: dict[int, PendingEvent] = {}
            if projected:
                # One read for the whole batch: which projected events are stored already (writers are
                # serialized, so what is not stored now will not be stored by anyone else first), the
                # onboardings their keys reach and the held events of their fleets and connections.
                # A redelivery's keys are read too; its rows stay unchanged and are not written.
                batch = ProjectionBatch(hot, conn, now)
                invitation_ids, fleet_ids, fleet_refs, connection_ids = correlation.record_keys(
                    r for rs in projected.values() for r in rs
                )
                known = batch.read(
                    event_ids=(items[i].event_id for i in projected),
                    invitation_ids=invitation_ids,
                    fleet_ids=fleet_ids,
                    fleet_refs=fleet_refs,
                    connection_ids=connection_ids,
                )
                unique = [i for i in unique if items[i].event_id not in known]
                projected = {i: recs for i, recs in projected.items() if items[i].event_id not in known}
                pending = self._project(batch, projected, items)
            rows = [(i, _correlated(base_rows[i], pending[i]) if i in pending else base_rows[i]) for i in unique]
            seqs = dict(conn.execute(hot.insert_event, [row for _, row in rows]).all()) if rows else {}
            for i, row in rows:
                seq = seqs.get(row["event_id"])
                if seq is None and i in pending:
                    raise RuntimeError("a projected event was stored by another writer meanwhile")
                outcomes[i] = _DUPLICATE if seq is None else RecordOutcome(stored=True, duplicate=False, seq=seq)
            stored = sum(o.stored for o in outcomes)
            totals = dict(counters or {})
            if stored:
                totals[COUNTER_EVENTS] = totals.get(COUNTER_EVENTS, 0) + stored
            if duplicates := len(outcomes) - stored:
                totals[COUNTER_DUPLICATES] = totals.get(COUNTER_DUPLICATES, 0) + duplicates
            self._add_counters(conn, totals, now)
        return outcomes

    @staticmethod
    def _project(
        batch: ProjectionBatch, projected: Mapping[int, list[EventRecord]], items: Sequence[IncomingEvent]
    ) -> dict[int, PendingEvent]:
        """Apply new onboarding events (and what they release) to the onboarding rows ``batch`` read."""
        pending = {i: PendingEvent(items[i].event_id, recs) for i, recs in projected.items()}
        for pending_event in pending.values():
            batch.add(pending_event)
        batch.settle()
        batch.flush(_row_values)
        return pending

    @_retried_when_busy
    def _observe(self, invitation_id: str, fact: State, *, create: bool) -> Onboarding | None:
        """Merge a REST/redirect/registration fact into one onboarding, releasing what it links."""
        with self._write() as conn:
            batch = ProjectionBatch(self.statements, conn, datetime.now(UTC))
            batch.read(invitation_ids=[invitation_id])
            if not create and not batch.exists(invitation_id):
                return None
            batch.merge(invitation_id, fact)
            batch.settle()
            batch.flush(_row_values)
            return self._load(conn, invitation_id)

    def events_after(self, cursor: int, names: Sequence[str] | None = None, limit: int = 100) -> list[StoredEvent]:
        """Events with ``seq > cursor`` in seq order; ``names`` may hold families like ``execution.*``."""
        stmt = select(events).where(events.c.seq > cursor).order_by(events.c.seq).limit(limit)
        if names is not None:
            stmt = stmt.where(_name_filter(names))
        with self.engine.connect() as conn:
            return [_stored_event(row) for row in conn.execute(stmt)]

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(events.c.seq))).scalar() or 0

    def get_event(self, event_id: str) -> StoredEvent | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(events).where(events.c.event_id == event_id)).first()
        return None if row is None else _stored_event(row)

    # --- onboardings ----------------------------------------------------------------------------

    def register_invitation(
        self,
        invitation: Any,
        *,
        dag_id: str | None = None,
        run_id: str | None = None,
        new_attempt_at: datetime | None = None,
    ) -> Onboarding:
        """Create (or refresh) the onboarding row of an invitation created over REST.

        ``new_attempt_at``: Catena refreshed an existing invitation (200) for a new attempt, requested at
        that time (our clock, taken before the request). If the attempt before had failed, the onboarding
        shows only what happens from then on (projection.py, "Attempts").
        """
        invitation_id = _opt_str(_field(invitation, "id"))
        if not invitation_id:
            raise ValueError("invitation has no id")
        now = datetime.now(UTC)
        status = status_value(_field(invitation, "status"))
        created = projection.to_utc(_field(invitation, "created_at")) or now
        stage_times = projection.invitation_stage_times(
            status,
            observed_at=now,
            accepted_at=_field(invitation, "accepted_at"),
            declined_at=_field(invitation, "declined_at"),
            expires_at=_field(invitation, "expires_at"),
        )
        # The status dates from its own transition (an active one from its creation, or from the new
        # attempt), so a registration never overrides a later event.
        status_at = new_attempt_at or next(iter(stage_times.values()), created)
        fact = projection.join(
            projection.observation_fact(
                at=created,
                source="rest",
                stage=Stage.INVITED,
                fleet_id=_opt_str(_field(invitation, "fleet_id")),
                fleet_ref=_opt_str(_field(invitation, "fleet_ref")),
                magic_link=_opt_str(_field(invitation, "magic_link")),
                opened_at=created,
                expires_at=_field(invitation, "expires_at"),
            ),
            projection.observation_fact(
                at=status_at,
                source="rest",
                invitation_status=status,
                stage_times=stage_times,
                decline_reason=_opt_str(_field(invitation, "decline_reason")),
                new_attempt_at=new_attempt_at,
            ),
        )
        if dag_id or run_id:
            fact = projection.join(
                fact, projection.observation_fact(at=now, source="register", dag_id=dag_id, run_id=run_id)
            )
        onboarding = self._observe(invitation_id, fact, create=True)
        if onboarding is None:
            raise RuntimeError(f"invitation {invitation_id} was not registered")
        return onboarding

    def record_observation(
        self,
        invitation_id: str,
        *,
        stage: Stage | str | None = None,
        stage_times: Mapping[Stage, datetime | str | None] | None = None,
        fleet_id: str | None = None,
        fleet_ref: str | None = None,
        connection_ids: Iterable[str] | None = None,
        connection_statuses: Mapping[str, str] | None = None,
        schedule_statuses: Mapping[str, str] | None = None,
        share_agreement: Any = None,
        decline_reason: str | None = None,
        invitation_status: str | None = None,
        expires_at: datetime | str | None = None,
        source: str = "rest",
        at: datetime | None = None,
        create: bool = False,
    ) -> Onboarding | None:
        """Merge what REST reconciliation or a redirect page learnt; None for an unknown invitation.

        ``at``: when the observation was made (for a REST read, before it was sent). Rows are only
        created with ``create=True``: redirect pages are public, and an unknown id coming from them must
        not create onboardings.
        """
        if source == "redirect" and stage is not None and str(stage) in {s.value for s in Stage}:
            raise ValueError("redirect observations record a redirect kind (e.g. redirect_success), not a stage")
        share = None
        if share_agreement is not None:
            share = {
                "id": _opt_str(_field(share_agreement, "id")),
                "status": status_value(_field(share_agreement, "status")),
                "scopes": {k: status_value(v) for k, v in (_field(share_agreement, "scopes") or {}).items()},
            }
        fact = projection.observation_fact(
            at=projection.to_utc(at) or datetime.now(UTC),
            source=source,
            stage=stage,
            stage_times=stage_times,
            fleet_id=fleet_id,
            fleet_ref=fleet_ref,
            expires_at=expires_at,
            connection_ids=connection_ids,
            connection_statuses=connection_statuses,
            schedule_statuses=schedule_statuses,
            share_agreement=share,
            decline_reason=decline_reason,
            invitation_status=invitation_status,
        )
        return self._observe(invitation_id, fact, create=create)

    def get_onboarding(self, invitation_id: str) -> Onboarding | None:
        with self.engine.connect() as conn:
            return self._load(conn, invitation_id)

    def onboardings_for_fleet(self, fleet_id: str) -> list[Onboarding]:
        """The onboardings linked to a Catena fleet, the most recently created first."""
        stmt = (
            select(onboardings)
            .where(onboardings.c.fleet_id == fleet_id)
            .order_by(onboardings.c.created_at.desc(), onboardings.c.invitation_id)
        )
        with self.engine.connect() as conn:
            return [_onboarding(row) for row in conn.execute(stmt)]

    def onboardings_for_refs(self, fleet_refs: Iterable[str]) -> dict[str, list[Onboarding]]:
        """Every onboarding of these fleet refs (each ref's invitations, oldest first), in one query."""
        refs = sorted(set(fleet_refs))
        found: dict[str, list[Onboarding]] = {ref: [] for ref in refs}
        if not refs:
            return found
        stmt = (
            select(onboardings)
            .where(onboardings.c.fleet_ref.in_(refs))
            .order_by(onboardings.c.created_at, onboardings.c.invitation_id)
        )
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                found[row.fleet_ref].append(_onboarding(row))
        return found

    def connection_went_stale(self, connection_id: str) -> bool:
        """Whether Catena ever reported this connection stale (``connection.staled`` in the inbox)."""
        stmt = (
            select(events.c.seq)
            .where(events.c.event_name == CONNECTION_STALED, events.c.connection_id == connection_id)
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def get_onboardings(self, invitation_ids: Iterable[str]) -> dict[str, Onboarding]:
        """Many onboardings in one query (for a shared poller); unknown ids are absent."""
        ids = sorted(set(invitation_ids))
        if not ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(onboardings).where(onboardings.c.invitation_id.in_(ids)))
            return {row.invitation_id: _onboarding(row) for row in rows}

    def list_onboardings(
        self,
        stage: Stage | str | Sequence[Stage | str] | None = None,
        since: datetime | None = None,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Onboarding]:
        """Newest-updated first. ``since`` filters on ``updated_at``; ``search`` matches ids and fleet ref."""
        stmt = (
            select(onboardings)
            .where(*_onboarding_filters(stage, since, search))
            .order_by(onboardings.c.updated_at.desc(), onboardings.c.invitation_id)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [_onboarding(row) for row in conn.execute(stmt)]

    def count_onboardings(
        self,
        stage: Stage | str | Sequence[Stage | str] | None = None,
        since: datetime | None = None,
        search: str | None = None,
    ) -> int:
        stmt = select(func.count()).select_from(onboardings).where(*_onboarding_filters(stage, since, search))
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar() or 0

    def stage_counts(self) -> dict[Stage, int]:
        stmt = select(onboardings.c.stage, func.count()).group_by(onboardings.c.stage)
        with self.engine.connect() as conn:
            return {Stage(stage): n for stage, n in conn.execute(stmt)}

    def _load(self, conn: Connection, invitation_id: str) -> Onboarding | None:
        row = conn.execute(select(onboardings).where(onboardings.c.invitation_id == invitation_id)).first()
        return None if row is None else _onboarding(row)

    # --- subscriptions --------------------------------------------------------------------------

    @_retried_when_busy
    def save_subscription_secret(
        self, webhook_id: str, secret: str, *, event_name: str | None = None, url: str | None = None
    ) -> None:
        """Store (or replace) the signing secret of a webhook subscription, encrypted when a key is set."""
        values = {
            "webhook_id": str(webhook_id),
            "secret": self._cipher.encrypt(secret),
            "event_name": event_name,
            "url": url,
            "updated_at": datetime.now(UTC),
        }
        stmt = self._insert(subscriptions).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[subscriptions.c.webhook_id],
            set_={
                "secret": stmt.excluded.secret,
                "updated_at": stmt.excluded.updated_at,
                # A rotation that does not restate them keeps the event name and URL.
                "event_name": func.coalesce(stmt.excluded.event_name, subscriptions.c.event_name),
                "url": func.coalesce(stmt.excluded.url, subscriptions.c.url),
            },
        )
        with self._write() as conn:
            conn.execute(stmt)

    @_retried_when_busy
    def delete_subscription(self, webhook_id: str) -> None:
        with self._write() as conn:
            conn.execute(subscriptions.delete().where(subscriptions.c.webhook_id == str(webhook_id)))

    def subscription_secret(self, webhook_id: str) -> str | None:
        with self.engine.connect() as conn:
            stored = conn.execute(
                select(subscriptions.c.secret).where(subscriptions.c.webhook_id == str(webhook_id))
            ).scalar()
        return None if stored is None else self._cipher.decrypt(stored)

    def subscription_secrets(self) -> dict[str, str]:
        """Every stored webhook id -> secret (decrypted). Undecryptable rows are skipped with an error log."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(subscriptions.c.webhook_id, subscriptions.c.secret)).all()
        secrets: dict[str, str] = {}
        for webhook_id, stored in rows:
            try:
                secrets[webhook_id] = self._cipher.decrypt(stored)
            except Exception as exc:
                log.error("Cannot read the secret of webhook %s: %s", webhook_id, exc)
        return secrets

    @_retried_when_busy
    def stage_subscription_secret(
        self, webhook_id: str, secret: str, *, event_name: str | None = None, url: str | None = None
    ) -> None:
        """Keep ``secret`` as the subscription's NEXT secret, before Catena is told to sign with it.

        Deliveries verify with it at once; ``promote_subscription_secret`` makes it current once Catena
        acknowledged, ``discard_subscription_secret`` drops it if Catena refused. A subscription the
        inbox does not know yet gets it as its (only) secret.
        """
        sealed = self._cipher.encrypt(secret)
        now = datetime.now(UTC)
        stmt = self._insert(subscriptions).values(
            webhook_id=str(webhook_id),
            secret=sealed,
            next_secret=sealed,
            event_name=event_name,
            url=url,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[subscriptions.c.webhook_id], set_={"next_secret": sealed, "updated_at": now}
        )
        with self._write() as conn:
            conn.execute(stmt)

    @_retried_when_busy
    def promote_subscription_secret(
        self, webhook_id: str, *, grace: timedelta = timedelta(hours=1), previous_known: bool = True
    ) -> None:
        """Catena now signs with the next secret: make it current; the old one stays valid for ``grace``
        (deliveries already signed or queued with it, Catena's retries of them).

        ``previous_known=False``: the secret replaced was Catena's own, never shown to us (a callback_url
        subscription whose secret reads masked). Deliveries signed with it cannot be verified; for
        ``grace`` they are answered 503 instead of 401 (``previous_secret_unknown``), and Catena's
        retries, signed with the new secret, then verify.
        """
        now = datetime.now(UTC)
        stmt = (
            subscriptions.update()
            .where(subscriptions.c.webhook_id == str(webhook_id), subscriptions.c.next_secret.is_not(None))
            .values(
                previous_secret=subscriptions.c.secret if previous_known else None,
                previous_secret_until=now + grace,
                secret=subscriptions.c.next_secret,
                next_secret=None,
                updated_at=now,
            )
        )
        with self._write() as conn:
            conn.execute(stmt)

    @_retried_when_busy
    def discard_subscription_secret(self, webhook_id: str) -> None:
        """Catena did not take the next secret: stop accepting it (a row created by staging goes)."""
        mine = subscriptions.c.webhook_id == str(webhook_id)
        with self._write() as conn:
            conn.execute(subscriptions.delete().where(mine, subscriptions.c.secret == subscriptions.c.next_secret))
            conn.execute(subscriptions.update().where(mine).values(next_secret=None))

    def subscription_secret_sets(self, *, now: datetime | None = None) -> dict[str, list[str]]:
        """Every webhook id -> the secrets a delivery may be signed with now: current, next, previous
        (until its grace ends). Undecryptable values are skipped with an error log."""
        with self.engine.connect() as conn:
            rows = conn.execute(_secret_columns()).all()
        return {row.webhook_id: self._usable_secrets(row, now) for row in rows}

    def previous_secret_unknown(self, webhook_id: str, *, now: datetime | None = None) -> bool:
        """Whether a secret we never knew was replaced less than its grace ago (see
        ``promote_subscription_secret(previous_known=False)``): a delivery that does not verify may be
        signed with it, so it is not refused for good."""
        c = subscriptions.c
        stmt = select(c.previous_secret_until).where(
            c.webhook_id == str(webhook_id), c.previous_secret.is_(None), c.previous_secret_until.is_not(None)
        )
        with self.engine.connect() as conn:
            until = projection.to_utc(conn.execute(stmt).scalar())
        return until is not None and until > (now or datetime.now(UTC))

    def subscription_secret_candidates(self, webhook_id: str, *, now: datetime | None = None) -> list[str]:
        """The secrets one subscription's deliveries may be signed with now ([] if unknown)."""
        with self.engine.connect() as conn:
            row = conn.execute(_secret_columns().where(subscriptions.c.webhook_id == str(webhook_id))).first()
        return [] if row is None else self._usable_secrets(row, now)

    def _usable_secrets(self, row: Any, now: datetime | None) -> list[str]:
        until = projection.to_utc(row.previous_secret_until)
        sealed = [row.secret, row.next_secret]
        if until is not None and until > (now or datetime.now(UTC)):
            sealed.append(row.previous_secret)
        secrets: list[str] = []
        for value in dict.fromkeys(sealed):
            if value is None:
                continue
            try:
                secrets.append(self._cipher.decrypt(value))
            except Exception as exc:
                log.error("Cannot read a secret of webhook %s: %s", row.webhook_id, exc)
        return secrets

    def subscriptions(self) -> list[dict[str, Any]]:
        """Subscription metadata without secrets (for the dashboard)."""
        stmt = select(
            subscriptions.c.webhook_id, subscriptions.c.event_name, subscriptions.c.url, subscriptions.c.updated_at
        ).order_by(subscriptions.c.webhook_id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    # --- receiver counters ----------------------------------------------------------------------

    @_retried_when_busy
    def add_counters(self, counts: Mapping[str, int], *, at: datetime | None = None) -> None:
        """Add to the receiver's hourly counters (signature failures, rejections, ...)."""
        if any(counts.values()):
            with self._write() as conn:
                self._add_counters(conn, counts, at or datetime.now(UTC))

    def _add_counters(self, conn: Connection, counts: Mapping[str, int], at: datetime) -> None:
        rows = [{"counter": name, "hour": _hour(at), "count": n} for name, n in sorted(counts.items()) if n]
        if rows and not pg_transaction.rows_at_commit(conn, self.statements.add_counter, rows):
            conn.execute(self.statements.add_counter, rows)

    def webhook_stats(self, *, now: datetime | None = None, hours: int = 24) -> WebhookStats:
        """Receiver health: last event, events per hour (last ``hours``), signature failures, duplicates."""
        now = projection.to_utc(now) or datetime.now(UTC)
        current = _hour(now)
        with self.engine.connect() as conn:
            last = conn.execute(select(events.c.received_at).order_by(events.c.seq.desc()).limit(1)).scalar()
            totals = dict(
                conn.execute(
                    select(receiver_counters.c.counter, func.sum(receiver_counters.c.count)).group_by(
                        receiver_counters.c.counter
                    )
                ).all()
            )
            recent = conn.execute(
                select(receiver_counters.c.counter, receiver_counters.c.hour, receiver_counters.c.count).where(
                    receiver_counters.c.hour > current - timedelta(hours=hours)
                )
            ).all()
            held = conn.execute(select(func.count()).select_from(events).where(events.c.held == true())).scalar()
        per_hour: dict[str, dict[datetime, int]] = {}
        for counter, hour, count in recent:
            per_hour.setdefault(counter, {})[projection.to_utc(hour)] = int(count)  # type: ignore[index]
        events_by_hour = per_hour.get(COUNTER_EVENTS, {})
        return WebhookStats(
            last_event_at=projection.to_utc(last),
            events_total=int(totals.get(COUNTER_EVENTS) or 0),
            events_last_hour=events_by_hour.get(current, 0),
            events_per_hour=tuple(
                HourlyCount(
                    hour=current - timedelta(hours=h), count=events_by_hour.get(current - timedelta(hours=h), 0)
                )
                for h in range(hours - 1, -1, -1)
            ),
            signature_failures=int(totals.get(COUNTER_SIGNATURE_FAILURES) or 0),
            signature_failures_last_hour=per_hour.get(COUNTER_SIGNATURE_FAILURES, {}).get(current, 0),
            duplicates_dropped=int(totals.get(COUNTER_DUPLICATES) or 0),
            duplicates_last_hour=per_hour.get(COUNTER_DUPLICATES, {}).get(current, 0),
            rejected=int(totals.get(COUNTER_REJECTED) or 0),
            held_events=int(held or 0),
        )


# --- helpers ------------------------------------------------------------------------------------


def _create_engine(
    url: str,
    *,
    pool_size: int,
    max_overflow: int,
    sqlite_synchronous: str,
    sqlite_autocheckpoint: bool,
    pg_lock_timeout: float,
    pg_autocommit: bool = False,
) -> Engine:
    parsed = inbox_engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = not _is_sqlite_file(parsed)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            **({"poolclass": StaticPool} if memory else {"pool_size": pool_size, "max_overflow": max_overflow}),
        )
        _sqlite_setup(engine, synchronous=sqlite_synchronous, wal=not memory, autocheckpoint=sqlite_autocheckpoint)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle=1800,
            # Readers (triggers, dashboard, secret reads) check a pooled connection before use, so the
            # first read after a database restart does not fail; the writer, whose round trips are its
            # throughput, instead runs a transaction that found its connection dead once more.
            pool_pre_ping=not pg_autocommit,
            # UPDATE executemany (a batch's onboarding rows) in one round trip, not one per row.
            executemany_mode="values_plus_batch",
            **({"isolation_level": "AUTOCOMMIT"} if pg_autocommit else {}),
            connect_args={
                "connect_timeout": 5,
                "application_name": "catena-inbox-writer" if pg_autocommit else "catena-inbox",
                "options": _pg_session_options(pg_lock_timeout),
            },
        )
    raise ValueError(f"unsupported inbox database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")


def inbox_engine_url(url: str | URL) -> URL:
    """The URL the inbox's engine uses: a plain ``postgresql://`` means psycopg2.

    SQLAlchemy 2.1 maps a plain ``postgresql://`` to psycopg 3, but the inbox's PostgreSQL writer is
    written for psycopg2 (``executemany_mode``, ``mogrify`` in pg_transaction.py, the LISTEN
    connection), so a plain URL is given that driver; another driver named explicitly is refused
    with a message that says so.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return parsed
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg2")
    if parsed.get_driver_name() != "psycopg2":
        raise ValueError(
            f"the inbox needs the psycopg2 driver on PostgreSQL, not {parsed.get_driver_name()!r}: "
            "use postgresql:// or postgresql+psycopg2://"
        )
    return parsed


def _pg_session_options(lock_timeout: float) -> str:
    """Bounds on every inbox session, so one stuck writer cannot block the others forever.

    lock_timeout: waiting for the writer advisory lock (or a row) fails instead of queueing without
    end (the receiver answers 503 and Catena retries). statement_timeout: no statement runs away.
    idle_in_transaction_session_timeout: a session that stalls inside a transaction (holding the
    transaction-scoped writer lock) is ended by the server, which releases the lock.
    """
    settings = {
        "lock_timeout": int(lock_timeout * 1000),
        "statement_timeout": _PG_STATEMENT_TIMEOUT_MS,
        "idle_in_transaction_session_timeout": _PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    }
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def _is_sqlite_file(url: str | URL) -> bool:
    return make_url(url).database not in (None, "", ":memory:")


def _sqlite_setup(engine: Engine, *, synchronous: str, wal: bool, autocheckpoint: bool = True) -> None:
    """WAL, busy timeout, foreign keys; and explicit BEGIN (IMMEDIATE for writers) instead of pysqlite's."""
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"invalid SQLite synchronous mode {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if wal:
            ensure_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # a WalCheckpointer thread does it (checkpoint.py)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so a writer never fails to upgrade a read snapshot.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("catena_write") else "BEGIN")


def _secret_columns() -> Any:
    c = subscriptions.c
    return select(c.webhook_id, c.secret, c.next_secret, c.previous_secret, c.previous_secret_until)


def _lost_connection(exc: BaseException) -> bool:
    """A pooled connection was found dead (invalidated), directly or as the transaction it left behind."""
    return isinstance(exc, PendingRollbackError) or bool(getattr(exc, "connection_invalidated", False))


def _is_sqlite_busy(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


def _check_not_newer(version: int) -> int:
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"inbox schema version {version} is newer than this code ({SCHEMA_VERSION})")
    return version


def _name_filter(names: Sequence[str]) -> Any:
    exact = [n for n in names if not n.endswith("*")]
    clauses = [events.c.event_name.in_(exact)] if exact else []
    for name in names:
        if name.endswith("*"):
            prefix = name[:-1]
            if not prefix:
                return true()
            clauses.append(events.c.event_name.startswith(prefix, autoescape=True))
    return or_(*clauses) if clauses else false()


_LIKE_ESCAPE = "\\"


def _escape_like(value: str) -> str:
    return (
        value.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", _LIKE_ESCAPE + "%").replace("_", _LIKE_ESCAPE + "_")
    )


def _onboarding_filters(
    stage: Stage | str | Sequence[Stage | str] | None, since: datetime | None, search: str | None
) -> list[Any]:
    filters: list[Any] = []
    if stage is not None:
        stages = [stage] if isinstance(stage, str) else list(stage)
        filters.append(onboardings.c.stage.in_([Stage(s).value for s in stages]))
    if since is not None:
        filters.append(onboardings.c.updated_at >= projection.to_utc(since))
    if search:
        # A literal substring: ``_`` and ``%`` in fleet refs must not act as wildcards.
        pattern = "%" + _escape_like(search.strip().lower()) + "%"
        filters.append(
            or_(
                func.lower(onboardings.c.invitation_id).like(pattern, escape=_LIKE_ESCAPE),
                func.lower(onboardings.c.fleet_ref).like(pattern, escape=_LIKE_ESCAPE),
                func.lower(onboardings.c.fleet_id).like(pattern, escape=_LIKE_ESCAPE),
            )
        )
    return filters


def _row_values(state: State, now: datetime) -> dict[str, Any]:
    view = projection.to_onboarding("", state)
    return {
        "fleet_ref": view.fleet_ref,
        "fleet_id": view.fleet_id,
        "stage": view.stage.value,
        "invitation_status": view.invitation_status,
        "decline_reason": view.decline_reason,
        "magic_link": view.magic_link,
        "expires_at": view.expires_at,
        "connected_at": view.connected_at,
        "dag_id": view.dag_id,
        "run_id": view.run_id,
        "state": state,
        "updated_at": now,
    }


def _onboarding(row: Any) -> Onboarding:
    return projection.to_onboarding(
        row.invitation_id,
        row.state or {},
        created_at=projection.to_utc(row.created_at),
        updated_at=projection.to_utc(row.updated_at),
    )


def _stored_event(row: Any) -> StoredEvent:
    return StoredEvent(
        seq=row.seq,
        event_id=row.event_id,
        event_name=row.event_name,
        webhook_id=row.webhook_id,
        request_id=row.request_id,
        received_at=projection.to_utc(row.received_at),
        event_timestamp=projection.to_utc(row.event_timestamp),
        fleet_id=row.fleet_id,
        fleet_ref=row.fleet_ref,
        invitation_id=row.invitation_id,
        connection_id=row.connection_id,
        delivery_attempt=row.delivery_attempt,
        body=row.payload,
    )

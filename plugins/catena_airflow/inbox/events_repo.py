"""The event log: storing deliveries (each batch projected onto its onboardings in the same transaction)
and reading them back in ``seq`` order.

Guarantees: an event is stored once per Catena event id (``INSERT ... ON CONFLICT DO NOTHING``);
storing an event and updating the onboarding rows it concerns is one transaction; a group-committed
batch (``record_events``) is projected in memory with a bounded number of statements (batch.py), with
the same result as applying its events one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, true

from catena_airflow.client.events import CONNECTION_STALED
from catena_airflow.inbox import correlation, projection
from catena_airflow.inbox.batch import PendingEvent, ProjectionBatch
from catena_airflow.inbox.counters import COUNTER_DUPLICATES, COUNTER_EVENTS, Counters
from catena_airflow.inbox.engine import InboxDatabase, retried_when_busy
from catena_airflow.inbox.incoming import IncomingEvent, event_row
from catena_airflow.inbox.models import RecordOutcome, StoredEvent
from catena_airflow.inbox.projection import EventRecord
from catena_airflow.inbox.schema import events

_DUPLICATE = RecordOutcome(stored=False, duplicate=True, seq=None)


class EventsRepo:
    """Writes and reads the ``events`` table; a write also counts its events and duplicates."""

    def __init__(self, db: InboxDatabase, counters: Counters) -> None:
        self.db = db
        self._counters = counters

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

    @retried_when_busy
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
        base_rows = {i: event_row(items[i]) for i in unique}
        hot = self.db.statements
        with self.db.write() as conn:
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
                pending = _project(batch, projected, items)
            rows = [(i, _correlated(base_rows[i], pending[i]) if i in pending else base_rows[i]) for i in unique]
            seqs: dict[str, int] = dict(conn.execute(hot.insert_event, [row for _, row in rows]).all()) if rows else {}
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
            self._counters.add_in(conn, totals, now)
        return outcomes

    def events_after(self, cursor: int, names: Sequence[str] | None = None, limit: int = 100) -> list[StoredEvent]:
        """Events with ``seq > cursor`` in seq order; ``names`` may hold families like ``execution.*``."""
        stmt = select(events).where(events.c.seq > cursor).order_by(events.c.seq).limit(limit)
        if names is not None:
            stmt = stmt.where(_name_filter(names))
        with self.db.engine.connect() as conn:
            return [_stored_event(row) for row in conn.execute(stmt)]

    def last_seq(self) -> int:
        with self.db.engine.connect() as conn:
            return conn.execute(select(func.max(events.c.seq))).scalar() or 0

    def get_event(self, event_id: str) -> StoredEvent | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(events).where(events.c.event_id == event_id)).first()
        return None if row is None else _stored_event(row)

    def latest_event_per_connection(self, event_name: str, connection_ids: Iterable[str]) -> dict[str, StoredEvent]:
        """The newest event (highest ``seq``) named ``event_name`` of each of these connection ids, in one
        query; ids with no such event are absent."""
        ids = sorted(set(connection_ids))
        if not ids:
            return {}
        newest = (
            select(func.max(events.c.seq))
            .where(events.c.event_name == event_name, events.c.connection_id.in_(ids))
            .group_by(events.c.connection_id)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(events).where(events.c.seq.in_(newest.scalar_subquery())))
            return {row.connection_id: _stored_event(row) for row in rows}

    def connection_went_stale(self, connection_id: str) -> bool:
        """Whether Catena ever reported this connection stale (``connection.staled`` in the inbox)."""
        stmt = (
            select(events.c.seq)
            .where(events.c.event_name == CONNECTION_STALED, events.c.connection_id == connection_id)
            .limit(1)
        )
        with self.db.engine.connect() as conn:
            return conn.execute(stmt).first() is not None


def _project(
    batch: ProjectionBatch, projected: Mapping[int, list[EventRecord]], items: Sequence[IncomingEvent]
) -> dict[int, PendingEvent]:
    """Apply new onboarding events (and what they release) to the onboarding rows ``batch`` read."""
    pending = {i: PendingEvent(items[i].event_id, recs) for i, recs in projected.items()}
    for pending_event in pending.values():
        batch.add(pending_event)
    batch.settle()
    batch.flush()
    return pending


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


def _name_filter(names: Sequence[str]) -> Any:
    exact = [n for n in names if not n.endswith("*")]
    clauses: list[ColumnElement[bool]] = [events.c.event_name.in_(exact)] if exact else []
    for name in names:
        if name.endswith("*"):
            prefix = name[:-1]
            if not prefix:
                return true()
            clauses.append(events.c.event_name.startswith(prefix, autoescape=True))
    return or_(*clauses) if clauses else false()


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

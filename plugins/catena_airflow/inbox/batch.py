"""The projection work of one write transaction, done in memory with a bounded number of statements.

A group-committed batch may hold dozens of events touching the same onboardings. Instead of reading
and writing each onboarding row per event (several round trips per event), the batch loads every row
its events can reach, joins all facts in memory, applies held events as their fleet or connection gets
linked (to a fixpoint), and writes each changed row once. The result equals applying the events one by
one, because the projection is a join-semilattice (see projection.py) and each event is applied once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from catena_airflow.inbox import projection
from catena_airflow.inbox.notify import notify_onboardings_changed
from catena_airflow.inbox.projection import EventRecord, State
from catena_airflow.inbox.statements import ReadKind

if TYPE_CHECKING:
    from catena_airflow.inbox.store import InboxStore


@dataclass
class PendingEvent:
    """An event whose records still have to reach their onboardings."""

    event_id: str
    records: list[EventRecord]
    seq: int | None = None  # known for held events read from the database
    applied_to: str | None = None  # first onboarding it was applied to
    applied: bool = False

    @property
    def invitation_keyed(self) -> bool:
        return bool(self.records) and self.records[0].family in projection.INVITATION_KEYED_FAMILIES


@dataclass
class ProjectionBatch:
    store: InboxStore
    conn: Connection
    now: datetime
    states: dict[str, State] = field(default_factory=dict)
    originals: dict[str, State | None] = field(default_factory=dict)  # None: a new row
    by_fleet: dict[str, list[str]] = field(default_factory=dict)
    by_connection: dict[str, list[str]] = field(default_factory=dict)
    pending: list[PendingEvent] = field(default_factory=list)
    _loaded_invitations: set[str] = field(default_factory=set)
    _loaded_fleets: set[str] = field(default_factory=set)
    _loaded_connections: set[str] = field(default_factory=set)
    _fetched_fleets: set[str] = field(default_factory=set)
    _fetched_connections: set[str] = field(default_factory=set)
    _new_links: list[dict[str, str]] = field(default_factory=list)

    # --- reading what the batch can reach ---------------------------------------------------------

    def read(
        self,
        *,
        event_ids: Iterable[str] = (),
        invitation_ids: Iterable[str] = (),
        fleet_ids: Iterable[str] = (),
        connection_ids: Iterable[str] = (),
    ) -> set[str]:
        """Load the onboarding rows these keys reach and queue the held events of these fleets and
        connections, in ONE statement (each key is read once per batch); return the ids among
        ``event_ids`` that are stored already."""
        ids = set(event_ids)
        invs = set(invitation_ids) - self._loaded_invitations - self.states.keys()
        fleets = set(fleet_ids) - self._loaded_fleets
        conns = set(connection_ids) - self._loaded_connections
        held_fleets = set(fleet_ids) - self._fetched_fleets
        held_conns = set(connection_ids) - self._fetched_connections
        self._loaded_invitations |= invs
        self._loaded_fleets |= fleets
        self._loaded_connections |= conns
        self._fetched_fleets |= held_fleets
        self._fetched_connections |= held_conns
        if not (ids or invs or fleets or conns or held_fleets or held_conns):
            return set()
        hot = self.store.statements
        params = hot.batch_read_params(
            ids=ids, invs=invs, fleets=fleets, conns=conns, held_fleets=held_fleets, held_conns=held_conns
        )
        known: set[str] = set()
        queued = {p.seq for p in self.pending if p.seq is not None}
        for row in self.conn.execute(hot.batch_reads, params):
            if row.kind == ReadKind.KNOWN:
                known.add(row.key)
            elif row.kind == ReadKind.LINK:
                _add(self.by_connection, row.key, row.ref)
            elif row.kind == ReadKind.ONBOARDING:
                if row.key not in self.states:
                    self._adopt(row.key, dict(row.state or {}), original=dict(row.state or {}))
            elif row.seq not in queued:  # HELD; it comes twice when held under its fleet and its connection
                queued.add(row.seq)
                data = json.loads(row.payload).get("data") or []
                at = projection.to_utc(row.at) or projection.to_utc(row.received_at)
                records = projection.records_of(row.key, row.ref, data, at)
                self.pending.append(PendingEvent(row.key, records, seq=row.seq))
        return known

    def exists(self, invitation_id: str) -> bool:
        return invitation_id in self.states

    # --- applying -------------------------------------------------------------------------------

    def add(self, event: PendingEvent) -> None:
        self.pending.append(event)

    def merge(self, invitation_id: str, fact: State) -> None:
        """Join ``fact`` into an onboarding (created if new), keeping the fleet/connection maps current."""
        if invitation_id not in self.states:
            self._adopt(invitation_id, {}, original=None)
        old = self.states[invitation_id]
        new = projection.join(old, fact)
        self.states[invitation_id] = new
        if new.get("fleet_id") and new.get("fleet_id") != old.get("fleet_id"):
            _add(self.by_fleet, new["fleet_id"], invitation_id)
        for connection_id in set(new.get("connection_ids", ())) - set(old.get("connection_ids", ())):
            if invitation_id not in self.by_connection.get(connection_id, ()):
                _add(self.by_connection, connection_id, invitation_id)
                self._new_links.append({"connection_id": connection_id, "invitation_id": invitation_id})

    def settle(self) -> None:
        """Apply every pending event that now reaches an onboarding, fetching newly released ones, to a fixpoint."""
        while True:
            progress = False
            for event in self.pending:
                if event.applied:
                    continue
                targets = [self.targets(rec) for rec in event.records]
                if not any(targets):
                    continue
                event.applied = True
                event.applied_to = next(t[0] for t in targets if t)
                progress = True
                for rec, invitation_ids in zip(event.records, targets, strict=True):
                    for invitation_id in invitation_ids:
                        self.merge(invitation_id, projection.event_fact(rec))
            linked_fleets = set(self.by_fleet) - self._fetched_fleets
            linked_connections = set(self.by_connection) - self._fetched_connections
            if linked_fleets or linked_connections:
                # Newly linked keys may reach more rows (a fleet shared by onboardings) and held events.
                before = len(self.pending)
                self.read(fleet_ids=linked_fleets, connection_ids=linked_connections)
                progress = progress or len(self.pending) > before
            if not progress:
                return

    def targets(self, rec: EventRecord) -> list[str]:
        keys = projection.correlation_keys(rec)
        if rec.family in projection.INVITATION_KEYED_FAMILIES:
            return [keys.invitation_id] if keys.invitation_id else []
        found = list(self.by_fleet.get(keys.fleet_id or "", ()))
        if not found and keys.connection_id:  # the connection link only matters when the fleet has none
            found = list(self.by_connection.get(keys.connection_id, ()))
        return found

    # --- writing --------------------------------------------------------------------------------

    def flush(self, row_values: Callable[[State, datetime], dict[str, Any]]) -> None:
        """Write each changed onboarding once, the new connection links, and the released held events."""
        inserts, updates = [], []
        for invitation_id, state in self.states.items():
            original = self.originals[invitation_id]
            if original is None:
                inserts.append({"invitation_id": invitation_id, "created_at": self.now, **row_values(state, self.now)})
            elif state != original:
                updates.append({"b_inv": invitation_id, **row_values(state, self.now)})
        if inserts:
            self.conn.execute(self.store.statements.insert_onboarding, inserts)
        if updates:
            self.conn.execute(self.store.statements.update_onboarding, updates)
        if inserts or updates:
            notify_onboardings_changed(self.conn)
        if self._new_links:
            self.conn.execute(self.store.statements.link_connection, self._new_links)
        released = [{"b_seq": e.seq, "b_inv": e.applied_to} for e in self.pending if e.applied and e.seq is not None]
        if released:
            self.conn.execute(self.store.statements.claim_held, released)

    def _adopt(self, invitation_id: str, state: State, *, original: State | None) -> None:
        self.states[invitation_id] = state
        self.originals[invitation_id] = original
        # Keys linked before this transaction have no held events (writers are serialized, and an
        # event naming a linked key is applied on arrival): nothing to fetch for them.
        if state.get("fleet_id"):
            _add(self.by_fleet, state["fleet_id"], invitation_id)
            self._fetched_fleets.add(state["fleet_id"])
        for connection_id in state.get("connection_ids", ()):
            _add(self.by_connection, connection_id, invitation_id)
            self._fetched_connections.add(connection_id)


def _add(mapping: dict[str, list[str]], key: str, value: str) -> None:
    values = mapping.setdefault(key, [])
    if value not in values:
        values.append(value)


def record_keys(records: Iterable[EventRecord]) -> tuple[set[str], set[str], set[str]]:
    """(invitation ids, fleet ids, connection ids) the records name."""
    invs: set[str] = set()
    fleets: set[str] = set()
    conns: set[str] = set()
    for rec in records:
        keys = projection.correlation_keys(rec)
        if keys.invitation_id and rec.family in projection.INVITATION_KEYED_FAMILIES:
            invs.add(keys.invitation_id)
        if keys.fleet_id:
            fleets.add(keys.fleet_id)
        if keys.connection_id:
            conns.add(keys.connection_id)
    return invs, fleets, conns


__all__ = ["PendingEvent", "ProjectionBatch", "record_keys"]

"""The projection work of one write transaction, done in memory with a bounded number of statements.

A group-committed batch may hold dozens of events touching the same onboardings. Instead of reading
and writing each onboarding row per event (several round trips per event), the batch loads every row
its events can reach, joins all facts in memory, applies held events as their fleet, connection or
fleet ref gets linked (to a fixpoint), and writes each changed row once. The result equals applying the
events one by one, because the projection is a join-semilattice (see projection.py), each event is
applied once, and which onboarding an event reaches depends only on links that never go away
(correlation.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from catena_airflow.inbox import correlation, projection
from catena_airflow.inbox.notify import notify_onboardings_changed
from catena_airflow.inbox.projection import EventRecord, State
from catena_airflow.inbox.statements import HotStatements, ReadKind


@dataclass
class PendingEvent:
    """An event whose records still have to reach their onboardings."""

    event_id: str
    records: list[EventRecord]
    seq: int | None = None  # known for held events read from the database
    applied_to: str | None = None  # first onboarding it was applied to
    applied: bool = False

    @property
    def creates_onboarding(self) -> bool:
        return bool(self.records) and correlation.creates_onboarding(self.records[0])


@dataclass
class ProjectionBatch:
    statements: HotStatements
    conn: Connection
    now: datetime
    states: dict[str, State] = field(default_factory=dict)
    originals: dict[str, State | None] = field(default_factory=dict)  # None: a new row
    by_fleet: dict[str, list[str]] = field(default_factory=dict)
    by_ref: dict[str, list[str]] = field(default_factory=dict)
    by_connection: dict[str, list[str]] = field(default_factory=dict)
    pending: list[PendingEvent] = field(default_factory=list)
    _loaded: dict[str, set[str]] = field(
        default_factory=lambda: {"invs": set(), "fleets": set(), "refs": set(), "conns": set()}
    )
    _fetched: dict[str, set[str]] = field(default_factory=lambda: {"fleets": set(), "refs": set(), "conns": set()})
    #: Fleet refs whose held events must be looked at again: they gained a live onboarding.
    _opened_refs: set[str] = field(default_factory=set)
    _new_links: list[dict[str, str]] = field(default_factory=list)

    # --- the index correlation.targets() looks at ---------------------------------------------------

    def state(self, invitation_id: str) -> State:
        return self.states[invitation_id]

    def with_ref(self, fleet_ref: str) -> Sequence[str]:
        return self.by_ref.get(fleet_ref, ())

    def with_fleet(self, fleet_id: str) -> Sequence[str]:
        return self.by_fleet.get(fleet_id, ())

    def with_connection(self, connection_id: str) -> Sequence[str]:
        return self.by_connection.get(connection_id, ())

    # --- reading what the batch can reach ---------------------------------------------------------

    def read(
        self,
        *,
        event_ids: Iterable[str] = (),
        invitation_ids: Iterable[str] = (),
        fleet_ids: Iterable[str] = (),
        fleet_refs: Iterable[str] = (),
        connection_ids: Iterable[str] = (),
    ) -> set[str]:
        """Load the onboarding rows these keys reach and queue the held events of these fleets, refs and
        connections, in ONE statement (each key is read once per batch); return the ids among
        ``event_ids`` that are stored already."""
        ids = set(event_ids)
        wanted = {
            "invs": set(invitation_ids) - self.states.keys(),
            "fleets": set(fleet_ids),
            "refs": set(fleet_refs),
            "conns": set(connection_ids),
        }
        rows = {name: keys - self._loaded[name] for name, keys in wanted.items()}
        held = {name: wanted[name] - self._fetched[name] for name in self._fetched}
        for name, keys in rows.items():
            self._loaded[name] |= keys
        for name, keys in held.items():
            self._fetched[name] |= keys
        if not ids and not any(rows.values()) and not any(held.values()):
            return set()
        params = self.statements.batch_read_params(
            ids=ids,
            **rows,
            held_fleets=held["fleets"],
            held_refs=held["refs"],
            held_conns=held["conns"],
        )
        known: set[str] = set()
        queued = {p.seq for p in self.pending if p.seq is not None}
        for row in self.conn.execute(self.statements.batch_reads, params):
            if row.kind == ReadKind.KNOWN:
                known.add(row.key)
            elif row.kind == ReadKind.LINK:
                _add(self.by_connection, row.key, row.ref)
            elif row.kind == ReadKind.ONBOARDING:
                if row.key not in self.states:
                    self._adopt(row.key, dict(row.state or {}), original=dict(row.state or {}))
            elif row.seq not in queued:  # HELD; it comes again when held under several of its keys
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
        """Join ``fact`` into an onboarding (created if new), keeping the link maps current."""
        new_row = invitation_id not in self.states
        if new_row:
            self._adopt(invitation_id, {}, original=None)
        old = self.states[invitation_id]
        new = projection.join(old, fact)
        self.states[invitation_id] = new
        if new.get("fleet_id") and new.get("fleet_id") != old.get("fleet_id"):
            _add(self.by_fleet, new["fleet_id"], invitation_id)
        ref = new.get("fleet_ref")
        if ref and ref != old.get("fleet_ref"):
            _add(self.by_ref, ref, invitation_id)
        if ref and correlation.is_live(new) and _may_newly_sign(old, new, new_row=new_row):
            self._opened_refs.add(ref)
        for connection_id in set(new.get("connection_ids", ())) - set(old.get("connection_ids", ())):
            if invitation_id not in self.by_connection.get(connection_id, ()):
                _add(self.by_connection, connection_id, invitation_id)
                self._new_links.append({"connection_id": connection_id, "invitation_id": invitation_id})

    def settle(self) -> None:
        """Apply every pending event that now reaches an onboarding, fetching newly released ones, to a fixpoint."""
        while True:
            self._load_what_pending_events_name()
            progress = False
            # Invitation events first: they create the rows the others may be looking for.
            for event in sorted(self.pending, key=lambda e: not e.creates_onboarding):
                if event.applied:
                    continue
                found = [correlation.targets(rec, self) for rec in event.records]
                if not any(found):
                    continue
                event.applied = True
                event.applied_to = next(t[0] for t in found if t)
                progress = True
                for rec, invitation_ids in zip(event.records, found, strict=True):
                    for invitation_id in invitation_ids:
                        self.merge(invitation_id, projection.event_fact(rec))
            linked_fleets = set(self.by_fleet) - self._fetched["fleets"]
            linked_connections = set(self.by_connection) - self._fetched["conns"]
            opened_refs = self._opened_refs - self._fetched["refs"]
            if linked_fleets or linked_connections or opened_refs:
                # Newly linked keys may reach more rows (a fleet shared by onboardings, a fleet ref's
                # other invitations) and held events.
                before = len(self.pending)
                self.read(fleet_ids=linked_fleets, fleet_refs=opened_refs, connection_ids=linked_connections)
                progress = progress or len(self.pending) > before
            if not progress:
                return

    def _load_what_pending_events_name(self) -> None:
        """Rows of every fleet, ref and connection the waiting events name (held events released here
        may name keys this batch has not read yet), so each decision sees every onboarding it may reach."""
        _, fleets, refs, conns = correlation.record_keys(
            rec for event in self.pending if not event.applied for rec in event.records
        )
        fleets -= self._loaded["fleets"]
        refs -= self._loaded["refs"]
        conns -= self._loaded["conns"]
        if fleets or refs or conns:
            self.read(fleet_ids=fleets, fleet_refs=refs, connection_ids=conns)

    # --- writing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write each changed onboarding once, the new connection links, and the released held events."""
        inserts, updates = [], []
        for invitation_id, state in self.states.items():
            original = self.originals[invitation_id]
            if original is None:
                inserts.append(
                    {
                        "invitation_id": invitation_id,
                        "created_at": self.now,
                        **projection.onboarding_row(state, self.now),
                    }
                )
            elif state != original:
                updates.append({"b_inv": invitation_id, **projection.onboarding_row(state, self.now)})
        if inserts:
            self.conn.execute(self.statements.insert_onboarding, inserts)
        if updates:
            self.conn.execute(self.statements.update_onboarding, updates)
        if inserts or updates:
            notify_onboardings_changed(self.conn)
        if self._new_links:
            self.conn.execute(self.statements.link_connection, self._new_links)
        released = [{"b_seq": e.seq, "b_inv": e.applied_to} for e in self.pending if e.applied and e.seq is not None]
        if released:
            self.conn.execute(self.statements.claim_held, released)

    def _adopt(self, invitation_id: str, state: State, *, original: State | None) -> None:
        self.states[invitation_id] = state
        self.originals[invitation_id] = original
        # Fleets and connections linked before this transaction have no held events (writers are
        # serialized, and an event naming a linked key is applied on arrival): nothing to fetch for them.
        # A fleet ref may: its share agreements wait while none of its onboardings is live.
        if state.get("fleet_id"):
            _add(self.by_fleet, state["fleet_id"], invitation_id)
            self._fetched["fleets"].add(state["fleet_id"])
        if state.get("fleet_ref"):
            _add(self.by_ref, state["fleet_ref"], invitation_id)
        for connection_id in state.get("connection_ids", ()):
            _add(self.by_connection, connection_id, invitation_id)
            self._fetched["conns"].add(connection_id)


def _may_newly_sign(old: State, new: State, *, new_row: bool) -> bool:
    """Whether a live onboarding may now take share agreements it could not take before."""
    return (
        new_row
        or new.get("fleet_ref") != old.get("fleet_ref")
        or new.get("expires_at") != old.get("expires_at")
        or not correlation.is_live(old)
    )


def _add(mapping: dict[str, list[str]], key: str, value: str) -> None:
    values = mapping.setdefault(key, [])
    if value not in values:
        values.append(value)


__all__ = ["PendingEvent", "ProjectionBatch"]

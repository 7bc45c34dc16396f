"""The inbox's hot statements, built once per store so SQLAlchemy reuses their compiled SQL.

A list of keys is bound as ONE parameter (a PostgreSQL array; on SQLite a JSON array read with
``json_each``) instead of an expanding ``IN (...)``: an expanding list makes SQLAlchemy render the SQL
again on every call, which in the receiver's profile cost more CPU than the query itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, Update

from catena_airflow.inbox.schema import (
    SEQ_TYPE,
    UTC_DATETIME,
    events,
    onboarding_connections,
    onboardings,
    receiver_counters,
)

#: A held event: the partial indexes' own predicate, written the same way so they are used.
_HELD = events.c.held == true()


#: The ``INSERT`` of the two inbox dialects: both have ``on_conflict_do_*`` and ``excluded``, the base
#: :class:`~sqlalchemy.sql.dml.Insert` has neither.
UpsertInsert = postgresql.Insert | sqlite.Insert


def dialect_insert(dialect: str) -> Callable[[Table], UpsertInsert]:
    """The ``insert`` with ``ON CONFLICT`` support of the inbox's dialect."""
    if dialect == "postgresql":
        return postgresql.insert
    return sqlite.insert


@dataclass(frozen=True)
class HotStatements:
    dialect: str
    insert_event: Insert
    insert_onboarding: Insert
    update_onboarding: Update
    link_connection: Insert
    claim_held: Update
    add_counter: Insert
    #: What a batch reads before projecting, in ONE statement (one round trip while the writer lock
    #: is held). Rows ``(kind, key, ref, state, seq, payload, at, received_at)``, ordered by kind:
    #: ``KNOWN`` stored event ``key`` among ``:ids``; ``LINK`` connection ``key`` of ``:conns`` linked
    #: to invitation ``ref``; ``ONBOARDING`` onboarding ``key`` and its ``state``, reached by an id in
    #: ``:invs``, a fleet in ``:fleets``, a fleet ref in ``:refs`` or a link of ``:conns``, oldest
    #: first (a row may come more than once); ``HELD`` held event ``key`` named ``ref`` of a fleet in
    #: ``:held_fleets``, a fleet ref in ``:held_refs`` or a connection in ``:held_conns``, by ``seq``
    #: (an event may come more than once).
    batch_reads: Select[Any]

    @classmethod
    def build(cls, dialect: str) -> HotStatements:
        insert = dialect_insert(dialect)

        def one_of(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
            if dialect == "postgresql":
                return column == any_(bindparam(name, type_=postgresql.ARRAY(String())))
            values = func.json_each(bindparam(name, type_=String())).table_valued("value")
            return column.in_(select(values.c.value))

        upsert = insert(receiver_counters)
        return cls(
            dialect=dialect,
            batch_reads=_batch_reads(one_of),
            insert_event=insert(events)
            .on_conflict_do_nothing(index_elements=[events.c.event_id])
            .returning(events.c.event_id, events.c.seq),
            insert_onboarding=onboardings.insert(),
            update_onboarding=onboardings.update().where(onboardings.c.invitation_id == bindparam("b_inv")),
            link_connection=insert(onboarding_connections).on_conflict_do_nothing(
                index_elements=[onboarding_connections.c.connection_id]
            ),
            claim_held=events.update()
            .where(events.c.seq == bindparam("b_seq"), _HELD)
            .values(held=False, invitation_id=bindparam("b_inv")),
            add_counter=upsert.on_conflict_do_update(
                index_elements=[receiver_counters.c.counter, receiver_counters.c.hour],
                set_={"count": receiver_counters.c.count + upsert.excluded["count"]},
            ),
        )

    def batch_read_params(
        self,
        *,
        ids: Iterable[str] = (),
        invs: Iterable[str] = (),
        fleets: Iterable[str] = (),
        refs: Iterable[str] = (),
        conns: Iterable[str] = (),
        held_fleets: Iterable[str] = (),
        held_refs: Iterable[str] = (),
        held_conns: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Bind every parameter of ``batch_reads`` (an empty list reads nothing of its kind)."""
        named = {"ids": ids, "invs": invs, "fleets": fleets, "refs": refs, "conns": conns}
        named |= {"held_fleets": held_fleets, "held_refs": held_refs, "held_conns": held_conns}
        return {name: self.keys(values) for name, values in named.items()}

    def keys(self, values: Iterable[str]) -> Any:
        """Bind a set of keys for one of the list parameters of ``batch_reads``."""
        ordered = sorted(values)
        return ordered if self.dialect == "postgresql" else json.dumps(ordered)


class ReadKind(IntEnum):
    """The ``kind`` of a ``batch_reads`` row (also its sort order)."""

    KNOWN = 0
    LINK = 1
    ONBOARDING = 2
    HELD = 3


def _batch_reads(one_of: Callable[[ColumnElement[Any], str], ColumnElement[bool]]) -> Select[Any]:
    def row(kind: ReadKind, **columns: ColumnElement[Any]) -> Select[Any]:
        typed = {name: columns.get(name, cast(null(), type_)) for name, type_ in _READ_COLUMNS.items()}
        kind_column = literal_column(str(int(kind)), Integer()).label("kind")
        return select(kind_column, *(column.label(name) for name, column in typed.items()))

    links = onboarding_connections
    onboarding = {"key": onboardings.c.invitation_id, "state": onboardings.c.state, "at": onboardings.c.created_at}
    held = {
        "key": events.c.event_id, "ref": events.c.event_name, "seq": events.c.seq, "payload": events.c.payload,
        "at": events.c.event_timestamp, "received_at": events.c.received_at,
    }  # fmt: skip
    linked_invitations = select(links.c.invitation_id).where(one_of(links.c.connection_id, "conns"))
    reads = union_all(
        row(ReadKind.KNOWN, key=events.c.event_id).where(one_of(events.c.event_id, "ids")),
        row(ReadKind.LINK, key=links.c.connection_id, ref=links.c.invitation_id).where(
            one_of(links.c.connection_id, "conns")
        ),
        row(ReadKind.ONBOARDING, **onboarding).where(one_of(onboardings.c.invitation_id, "invs")),
        row(ReadKind.ONBOARDING, **onboarding).where(one_of(onboardings.c.fleet_id, "fleets")),
        row(ReadKind.ONBOARDING, **onboarding).where(one_of(onboardings.c.fleet_ref, "refs")),
        row(ReadKind.ONBOARDING, **onboarding).where(onboardings.c.invitation_id.in_(linked_invitations)),
        row(ReadKind.HELD, **held).where(_HELD, one_of(events.c.fleet_id, "held_fleets")),
        row(ReadKind.HELD, **held).where(_HELD, one_of(events.c.fleet_ref, "held_refs")),
        row(ReadKind.HELD, **held).where(_HELD, one_of(events.c.connection_id, "held_conns")),
    ).subquery()
    # Onboardings oldest first (``at``: created_at), held events by seq (their ``at`` is not used to order).
    order_at = case((reads.c.kind == int(ReadKind.ONBOARDING), reads.c.at))
    return select(reads).order_by(reads.c.kind, order_at, reads.c.seq, reads.c.key)


_READ_COLUMNS: dict[str, Any] = {
    "key": String(),
    "ref": String(),
    "state": JSON(),
    "seq": SEQ_TYPE,
    "payload": Text(),
    "at": UTC_DATETIME,
    "received_at": UTC_DATETIME,
}

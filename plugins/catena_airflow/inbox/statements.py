"""The inbox's hot statements, built once per store so SQLAlchemy reuses their compiled SQL.

A list of keys is bound as ONE parameter (a PostgreSQL array; on SQLite a JSON array read with
``json_each``) instead of an expanding ``IN (...)``: an expanding list makes SQLAlchemy render the SQL
again on every call, which in the receiver's profile cost more CPU than the query itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, String, any_, bindparam, func, select, true, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, Update

from catena_airflow.inbox.schema import events, onboarding_connections, onboardings, receiver_counters


def dialect_insert(dialect: str) -> Callable[..., Insert]:
    """The ``insert`` with ``ON CONFLICT`` support of the inbox's dialect."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@dataclass(frozen=True)
class HotStatements:
    dialect: str
    insert_event: Insert
    insert_onboarding: Insert
    update_onboarding: Update
    link_connection: Insert
    claim_held: Update
    add_counter: Insert
    #: ``event_id`` of the stored events among ``:ids``.
    known_events: Select[Any]
    #: ``(connection_id, invitation_id)`` links of ``:conns``.
    connection_links: Select[Any]
    #: ``(invitation_id, state)`` of the onboardings with an id in ``:invs`` or a fleet in ``:fleets``,
    #: oldest first (a row reached by both keys comes twice).
    onboardings_reached: Select[Any]
    #: Held events of a fleet in ``:fleets`` or a connection in ``:conns`` (an event may come twice).
    held_events: Select[Any]

    @classmethod
    def build(cls, dialect: str) -> HotStatements:
        insert = dialect_insert(dialect)

        def one_of(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
            if dialect == "postgresql":
                return column == any_(bindparam(name, type_=postgresql.ARRAY(String())))
            values = func.json_each(bindparam(name, type_=String())).table_valued("value")
            return column.in_(select(values.c.value))

        upsert = insert(receiver_counters)
        links = onboarding_connections
        held = events.c.held == true()  # the partial indexes' own predicate, so they are used
        held_columns = (
            events.c.seq, events.c.event_id, events.c.event_name, events.c.payload,
            events.c.event_timestamp, events.c.received_at,
        )  # fmt: skip
        reached = union_all(
            select(onboardings.c.invitation_id, onboardings.c.state, onboardings.c.created_at).where(
                one_of(onboardings.c.invitation_id, "invs")
            ),
            select(onboardings.c.invitation_id, onboardings.c.state, onboardings.c.created_at).where(
                one_of(onboardings.c.fleet_id, "fleets")
            ),
        ).subquery()
        held_union = union_all(
            select(*held_columns).where(held, one_of(events.c.fleet_id, "fleets")),
            select(*held_columns).where(held, one_of(events.c.connection_id, "conns")),
        ).subquery()
        return cls(
            dialect=dialect,
            insert_event=insert(events)
            .on_conflict_do_nothing(index_elements=[events.c.event_id])
            .returning(events.c.event_id, events.c.seq),
            insert_onboarding=onboardings.insert(),
            update_onboarding=onboardings.update().where(onboardings.c.invitation_id == bindparam("b_inv")),
            link_connection=insert(onboarding_connections).on_conflict_do_nothing(
                index_elements=[onboarding_connections.c.connection_id]
            ),
            claim_held=events.update()
            .where(events.c.seq == bindparam("b_seq"), held)
            .values(held=False, invitation_id=bindparam("b_inv")),
            add_counter=upsert.on_conflict_do_update(
                index_elements=[receiver_counters.c.counter, receiver_counters.c.hour],
                set_={"count": receiver_counters.c.count + upsert.excluded["count"]},
            ),
            known_events=select(events.c.event_id).where(one_of(events.c.event_id, "ids")),
            connection_links=select(links.c.connection_id, links.c.invitation_id).where(
                one_of(links.c.connection_id, "conns")
            ),
            onboardings_reached=select(reached.c.invitation_id, reached.c.state).order_by(
                reached.c.created_at, reached.c.invitation_id
            ),
            held_events=select(held_union).order_by(held_union.c.seq),
        )

    def keys(self, values: Iterable[str]) -> Any:
        """Bind a set of keys for one of the ``:ids``/``:invs``/``:fleets``/``:conns`` parameters."""
        ordered = sorted(values)
        return ordered if self.dialect == "postgresql" else json.dumps(ordered)

"""Airflow DAG runs the dashboard links to, read from Airflow's metadata database.

The dashboard runs inside the api-server, which has metadata-database access (plugin apps do;
tasks and triggers do not). A failed lookup only loses a state or a link, never the page.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxEventRef:
    """An inbox event an alert stems from."""

    event_id: str
    received_at: datetime


@dataclass(frozen=True)
class RunRef:
    dag_id: str
    run_id: str
    state: str | None


def _state(state: object) -> str | None:
    return None if state is None else str(getattr(state, "value", state))


def run_states(runs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``{(dag_id, run_id): state}`` for the runs that exist; unknown runs are left out."""
    wanted = set(runs)
    if not wanted:
        return {}
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    query = select(DagRun.dag_id, DagRun.run_id, DagRun.state).where(
        DagRun.dag_id.in_(sorted({dag_id for dag_id, _ in wanted})),
        DagRun.run_id.in_(sorted({run_id for _, run_id in wanted})),
    )
    try:
        with create_session() as session:
            rows = session.execute(query).all()
    except SQLAlchemyError as exc:
        log.warning("could not read DAG run states for the dashboard: %s", type(exc).__name__)
        return {}
    return {(d, r): _state(s) or "" for d, r, s in rows if (d, r) in wanted}


def runs_consuming(event_refs: Collection[InboxEventRef]) -> dict[str, RunRef]:
    """``{inbox event id: the latest DAG run that consumed its asset event}``, for events that have one.

    The inbox watcher turns each operational webhook into an asset event whose payload carries the
    inbox event id (``triggers/inbox_events.py``); the run of the operations DAG that consumed that
    asset event is the one handling it.
    """
    if not event_refs:
        return {}
    from airflow.models.asset import AssetEvent, association_table
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    wanted = {ref.event_id for ref in event_refs}
    query = (
        select(AssetEvent.extra, DagRun.dag_id, DagRun.run_id, DagRun.state)
        .join(association_table, association_table.c.event_id == AssetEvent.id)
        .join(DagRun, DagRun.id == association_table.c.dag_run_id)
        .where(AssetEvent.timestamp >= min(ref.received_at for ref in event_refs))
        .order_by(DagRun.id)
    )
    found: dict[str, RunRef] = {}
    try:
        with create_session() as session:
            for extra, dag_id, run_id, state in session.execute(query):
                payload = (extra or {}).get("payload")
                event_id = payload.get("event_id") if isinstance(payload, dict) else None
                if event_id in wanted:
                    found[event_id] = RunRef(dag_id=dag_id, run_id=run_id, state=_state(state))
    except SQLAlchemyError as exc:
        log.warning("could not read handling runs for the dashboard: %s", type(exc).__name__)
        return {}
    return found

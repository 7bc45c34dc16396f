"""Airflow DAG runs the dashboard links to, read from Airflow's metadata database.

The dashboard runs inside the api-server, which has metadata-database access (plugin apps do;
tasks and triggers do not). A failed lookup only loses a state or a link, never the page.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
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


def handling_runs(dag_id: str, events: Collection[InboxEventRef]) -> dict[str, RunRef]:
    """``{inbox event id: the first run of ``dag_id`` that started (or was queued) after its receipt}``.

    The operations DAG's handlers each read every inbox event they have not handled yet, whatever
    woke the run (the watcher's asset event, its timetable, a manual trigger), and runs do not
    overlap (``max_active_runs=1``): the first run to start after an event arrived is the one that
    handles it. Events no run has reached yet are left out.
    """
    if not events:
        return {}
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    began = func.coalesce(DagRun.start_date, DagRun.queued_at, type_=DagRun.start_date.type)
    earliest = min(ref.received_at for ref in events)
    query = (
        select(DagRun.run_id, DagRun.state, began)
        .where(DagRun.dag_id == dag_id, began >= earliest)
        .order_by(began, DagRun.id)
    )
    try:
        with create_session() as session:
            runs = [(run_id, _state(state), _aware(at)) for run_id, state, at in session.execute(query)]
    except SQLAlchemyError as exc:
        log.warning("could not read handling runs for the dashboard: %s", type(exc).__name__)
        return {}
    found: dict[str, RunRef] = {}
    for ref in events:
        first = next(((run_id, state) for run_id, state, at in runs if at >= ref.received_at), None)
        if first is not None:
            found[ref.event_id] = RunRef(dag_id=dag_id, run_id=first[0], state=first[1])
    return found


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)

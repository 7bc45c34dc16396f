"""States of the Airflow DAG runs the dashboard links to, from Airflow's metadata database.

The dashboard runs inside the api-server, which has metadata-database access (plugin apps do;
tasks and triggers do not). A lookup failure only loses the state column, never the page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


def run_states(runs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``{(dag_id, run_id): state}`` for the runs that exist; unknown runs are left out."""
    wanted = set(runs)
    if not wanted:
        return {}
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    dag_ids = sorted({dag_id for dag_id, _ in wanted})
    run_ids = sorted({run_id for _, run_id in wanted})
    try:
        with create_session() as session:
            rows = session.execute(
                select(DagRun.dag_id, DagRun.run_id, DagRun.state).where(
                    DagRun.dag_id.in_(dag_ids), DagRun.run_id.in_(run_ids)
                )
            ).all()
    except SQLAlchemyError as exc:
        log.warning("could not read DAG run states for the dashboard: %s", type(exc).__name__)
        return {}
    return {
        (dag_id, run_id): str(getattr(state, "value", state))
        for dag_id, run_id, state in rows
        if (dag_id, run_id) in wanted
    }

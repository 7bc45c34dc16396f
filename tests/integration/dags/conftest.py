"""A whole Catena deployment for ``dag.test()``: the sandbox and receiver as real processes, a real
PostgreSQL inbox (operations state included), a DuckDB warehouse (or the test's PostgreSQL database),
the ``catena_default`` connection, and ``catena_setup`` run."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from sqlalchemy import select

from catena_airflow.hooks.inbox import inbox_store
from catena_airflow.inbox import InboxStore, StoredEvent

DAGS = Path(__file__).resolve().parents[3] / "dags"


class Warehouse:
    """Reads what dlt loaded (dataset ``catena``), in DuckDB or PostgreSQL, with plain SQL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def ids(self, table: str, fleet_id: str) -> list[str]:
        """Ids of the fleet's rows, duplicates included (there must be none); [] before dlt created the table."""
        return [row[0] for row in self.rows(table, fleet_id, "id")]

    def rows(self, table: str, fleet_id: str, columns: str) -> list[tuple]:
        """``columns`` (SQL) of the fleet's rows; [] before dlt created the table."""
        query = f"SELECT {columns} FROM catena.{table} WHERE fleet_id = %s"
        if self.url.startswith("duckdb:///"):
            import duckdb

            path = self.url[len("duckdb:///") :]
            if not Path(path).exists():
                return []
            with duckdb.connect(path) as conn:
                try:
                    return conn.execute(query.replace("%s", "?"), [fleet_id]).fetchall()
                except duckdb.CatalogException:
                    return []
        import psycopg2

        with closing(psycopg2.connect("postgresql://" + self.url.split("://", 1)[1])) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", (f"catena.{table}",))
            if cursor.fetchone()[0] is None:
                return []
            cursor.execute(query, (fleet_id,))
            return cursor.fetchall()


@dataclass
class Deployment:
    sandbox: Any
    receiver: Any
    inbox: InboxStore
    dags: dict[str, Any]
    warehouse: Warehouse | None = None

    def run(self, dag_id: str, conf: dict | None = None):
        """One ``dag.test()`` run; returns the DAG run."""
        return self.dags[dag_id].test(run_conf=conf or {})

    def wait_for_event(
        self, name: str, *, timeout: float = 60.0, where: Callable[[StoredEvent], bool] | None = None
    ) -> StoredEvent:
        """Block until the receiver has stored an event called ``name`` (deliveries are asynchronous),
        the first one ``where`` accepts if given."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.inbox.events_after(0, [name], limit=1000) if where is None or where(e)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise TimeoutError(f"no {name} reached the inbox within {timeout}s:\n{self.receiver.log_tail()}")


def task_states(dag_run) -> dict[str, str | None]:
    with create_session() as session:
        from airflow.models.taskinstance import TaskInstance

        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
            )
        ).all()
    return {(f"{task}[{index}]" if index >= 0 else task): state for task, index, state in rows}


def xcom(dag_run, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.map_index == map_index,
                XComModel.key == key,
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


#: A sandbox slow enough (a step every 1.5 s) that a sensor defers before the fleet connects.
SLOW_SPEED = 2.0


@pytest.fixture(scope="session")
def _slow_sandbox(sandbox_factory):
    return sandbox_factory(speed=SLOW_SPEED)


@pytest.fixture
def slow_sandbox(_slow_sandbox):
    _slow_sandbox.reset()
    return _slow_sandbox


@pytest.fixture
def deployment(sandbox, make_deployment) -> Deployment:
    """Everything on the session's fast sandbox (scenarios complete within milliseconds)."""
    return make_deployment(sandbox)


@pytest.fixture
def slow_deployment(slow_sandbox, make_deployment) -> Deployment:
    return make_deployment(slow_sandbox)


@pytest.fixture
def make_deployment(receiver_factory, postgres_url, tmp_path, monkeypatch, airflow_db) -> Callable[..., Deployment]:
    return lambda sandbox, setup=True, warehouse=None: _deploy(
        sandbox, receiver_factory, postgres_url, tmp_path, monkeypatch, setup, warehouse
    )


@pytest.fixture
def bare_deployment(sandbox, make_deployment) -> Deployment:
    """No ``catena_setup``: not one org-wide subscription (an invitation's callback_url is all there is)."""
    return make_deployment(sandbox, setup=False)


def _deploy(
    sandbox, receiver_factory, postgres_url, tmp_path, monkeypatch, setup: bool = True, warehouse: str | None = None
) -> Deployment:
    """``warehouse``: ``postgres`` loads into the test's PostgreSQL database; otherwise a DuckDB file."""
    monkeypatch.setenv("AIRFLOW_CONN_CATENA_DEFAULT", sandbox.catena_connection())
    warehouse_url = postgres_url if warehouse == "postgres" else f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("CATENA_DLT_DESTINATION", warehouse_url)
    monkeypatch.setenv("CATENA_DLT_PIPELINES_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("CATENA_INBOX_URL", postgres_url)
    # No configured secret: the receiver verifies with the secrets catena_setup stores, and looks up the
    # subscriptions Catena makes for a callback_url over the catena_default connection it inherits.
    receiver = receiver_factory(postgres_url, secrets=[])
    dagbag = DagBag(dag_folder=str(DAGS))
    assert dagbag.import_errors == {}
    world = Deployment(
        sandbox,
        receiver,
        inbox_store(postgres_url),
        dagbag.dags,
        Warehouse(warehouse_url),
    )
    if setup:
        run = world.run("catena_setup", {"receiver_url": receiver.url})
        assert run.state == DagRunState.SUCCESS, task_states(run)
    return world

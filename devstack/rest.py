"""Airflow's public REST API as a user drives it: a token from ``/auth/token``, then the official client."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from airflow_client.client import ApiClient, Configuration
from airflow_client.client.api.dag_run_api import DagRunApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.api.x_com_api import XComApi
from airflow_client.client.exceptions import ConflictException, ServiceException
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

FINISHED_RUN_STATES = frozenset({"success", "failed"})


def fetch_token(base_url: str, username: str, password: str) -> str:
    """A JWT from SimpleAuthManager's ``POST /auth/token``, which answers 201."""
    response = requests.post(f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30)
    if response.status_code != 201:
        # The body never echoes the password; it is safe to show.
        raise RuntimeError(f"POST {base_url}/auth/token answered {response.status_code}: {response.text[:200]}")
    return response.json()["access_token"]


@dataclass(frozen=True)
class RunState:
    dag_id: str
    run_id: str
    state: str
    conf: dict[str, Any]
    queued_at: datetime | None = None  # when the run was triggered
    end_date: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_RUN_STATES

    @property
    def seconds(self) -> float | None:
        """Trigger to end, in seconds (None while the run is unfinished)."""
        if self.queued_at is None or self.end_date is None:
            return None
        return (self.end_date - self.queued_at).total_seconds()

    @classmethod
    def of(cls, dag_id: str, run: Any) -> RunState:
        """From the client's DAGRunResponse."""
        return cls(
            dag_id=dag_id,
            run_id=run.dag_run_id,
            state=_text(run.state),
            conf=dict(run.conf or {}),
            queued_at=run.queued_at,
            end_date=run.end_date,
        )


@dataclass(frozen=True)
class TaskState:
    task_id: str
    map_index: int
    state: str | None
    try_number: int


class AirflowRest:
    """Triggers and follows DAG runs through ``apache-airflow-client``, as any REST user would."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        configuration = Configuration(host=self.base_url, access_token=fetch_token(self.base_url, username, password))
        self._api_client = ApiClient(configuration)
        self.dag_runs = DagRunApi(self._api_client)
        self.task_instances = TaskInstanceApi(self._api_client)
        self.xcoms = XComApi(self._api_client)

    def close(self) -> None:
        """Release the client's pooled HTTP connections."""
        self._api_client.rest_client.pool_manager.clear()

    def __enter__(self) -> AirflowRest:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, *, attempts: int = 5) -> str:
        """Trigger a manual run with ``"logical_date": null`` and return its run id.

        The run id is chosen here, so the POST can be retried safely: an api-server answering 5xx
        (a busy SQLite metadata DB says "database is locked") is asked again, and a 409 on a retry
        means the earlier attempt did create the run.
        """
        run_id = f"manual__{uuid.uuid4().hex}"
        body = TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=None, conf=dict(conf or {}))
        for attempt in range(1, attempts + 1):
            try:
                return self.dag_runs.trigger_dag_run(dag_id, body).dag_run_id
            except ConflictException:
                if attempt == 1:
                    raise
                return run_id
            except ServiceException:
                if attempt == attempts:
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def run_state(self, dag_id: str, run_id: str) -> RunState:
        return RunState.of(dag_id, self.dag_runs.get_dag_run(dag_id, run_id))

    def list_runs(self, dag_id: str, *, limit: int = 100) -> list[RunState]:
        runs = self.dag_runs.get_dag_runs(dag_id, limit=limit, order_by=["run_after"]).dag_runs
        return [RunState.of(dag_id, run) for run in runs]

    def task_states(self, dag_id: str, run_id: str) -> list[TaskState]:
        instances = self.task_instances.get_task_instances(dag_id, run_id, limit=200).task_instances
        return [
            TaskState(
                task_id=ti.task_id, map_index=ti.map_index, state=_text(ti.state) or None, try_number=ti.try_number
            )
            for ti in instances
        ]

    def wait_for_runs(
        self,
        runs: Iterable[tuple[str, str]],
        *,
        timeout: float,
        interval: float = 2.0,
        on_poll: Callable[[dict[tuple[str, str], RunState]], None] | None = None,
    ) -> dict[tuple[str, str], RunState]:
        """Poll each ``(dag_id, run_id)`` until all are finished; ``on_poll`` sees every round of states."""
        pending = list(runs)
        deadline = time.monotonic() + timeout
        while True:
            states = {(dag_id, run_id): self.run_state(dag_id, run_id) for dag_id, run_id in pending}
            if on_poll is not None:
                on_poll(states)
            if all(state.finished for state in states.values()):
                return states
            if time.monotonic() >= deadline:
                unfinished = {key: state.state for key, state in states.items() if not state.finished}
                raise TimeoutError(f"runs not finished after {timeout:.0f}s: {unfinished}")
            time.sleep(interval)

    def xcom(self, dag_id: str, run_id: str, task_id: str, *, key: str = "return_value", map_index: int = -1) -> Any:
        """A task's XCom value, deserialized (a task's return value by default)."""
        entry = self.xcoms.get_xcom_entry(dag_id, task_id, run_id, key, map_index=map_index, deserialize=True)
        return entry.actual_instance.value if hasattr(entry, "actual_instance") else entry.value

    def upstream_asset_events(self, dag_id: str, run_id: str) -> list:
        """The asset events that triggered an asset-scheduled run (each with ``.extra``)."""
        return list(self.dag_runs.get_upstream_asset_events(dag_id, run_id).asset_events)

    def failed_task_logs(self, dag_id: str, run_id: str) -> str:
        """The logs of every failed task of a run, one after the other."""
        logs = []
        for task in self.task_states(dag_id, run_id):
            if task.state == "failed":
                text = self.task_log(dag_id, run_id, task.task_id, try_number=task.try_number, map_index=task.map_index)
                logs.append(f"--- {task.task_id} (try {task.try_number}) ---\n{text}")
        return "\n".join(logs)

    def task_log(self, dag_id: str, run_id: str, task_id: str, *, try_number: int | None = None, map_index=-1) -> str:
        """The full log of one task try (the latest by default) as plain text, exceptions included."""
        if try_number is None:
            try_number = self.task_instances.get_task_instance(dag_id, run_id, task_id).try_number
        # The raw JSON: the client's log model drops the structured fields (error_detail) we need.
        response = self.task_instances.get_log_without_preload_content(
            dag_id, run_id, task_id, try_number, full_content=True, map_index=map_index, accept="application/json"
        )
        return _log_text(json.loads(response.data)["content"])


def _text(value: object) -> str:
    """Enum states from the client as their plain string value."""
    return "" if value is None else str(getattr(value, "value", value))


def _log_text(lines: list) -> str:
    rendered = []
    for line in lines:
        if isinstance(line, str):
            rendered.append(line)
            continue
        text = f"{line.get('timestamp', '')} {line.get('level', '')} {line.get('event', '')}".strip()
        for error in line.get("error_detail") or []:
            text += f"\n    {error.get('exc_type')}: {error.get('exc_value')}"
        rendered.append(text)
    return "\n".join(rendered)

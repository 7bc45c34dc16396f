"""AirflowRest.trigger against a small real HTTP server standing in for a busy api-server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from airflow_client.client.exceptions import ServiceException

import devstack.rest
from devstack.rest import AirflowRest


class BusyApiServer(ThreadingHTTPServer):
    """Answers the trigger POST with the queued statuses (then 200), recording each body."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = statuses
        self.bodies: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if self.path == "/auth/token":
            return self._answer(201, {"access_token": "jwt"})
        self.server.bodies.append(body)
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        if status != 200:
            return self._answer(status, {"detail": "busy"})
        return self._answer(200, _dag_run(body["dag_run_id"], body.get("conf") or {}))

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _dag_run(run_id: str, conf: dict) -> dict:
    return {
        "dag_run_id": run_id,
        "dag_id": "d",
        "dag_display_name": "d",
        "run_after": "2026-11-27T12:00:00Z",
        "run_type": "manual",
        "state": "queued",
        "triggered_by": "rest_api",
        "conf": conf,
        "dag_versions": [],
        "bundle_version": None,
    }


@pytest.fixture
def server(request) -> Iterator[BusyApiServer]:
    server = BusyApiServer(list(request.param))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    # The backoff is for a real api-server's lock waits; this one answers at once.
    monkeypatch.setattr(devstack.rest.time, "sleep", lambda seconds: None)


@pytest.mark.parametrize("server", [[500, 500]], indirect=True)
def test_trigger_retries_a_busy_api_server_with_the_same_run_id(server):
    run_id = AirflowRest(server.url, "admin", "pw").trigger("d", {"fleet_ref": "acme"})
    assert [b["dag_run_id"] for b in server.bodies] == [run_id] * 3
    assert server.bodies[-1] == {"dag_run_id": run_id, "logical_date": None, "conf": {"fleet_ref": "acme"}}


@pytest.mark.parametrize("server", [[500, 409]], indirect=True)
def test_a_conflict_after_a_failed_attempt_means_the_run_was_created(server):
    run_id = AirflowRest(server.url, "admin", "pw").trigger("d")
    assert [b["dag_run_id"] for b in server.bodies] == [run_id, run_id]


@pytest.mark.parametrize("server", [[500] * 5], indirect=True)
def test_gives_up_after_its_attempts(server):
    with pytest.raises(ServiceException):
        AirflowRest(server.url, "admin", "pw").trigger("d", attempts=5)
    assert len(server.bodies) == 5

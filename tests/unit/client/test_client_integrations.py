"""Connections, schedules and executions (integrations service)."""

from __future__ import annotations

from catena_airflow.client.models import ConnectionStatus, ExecutionStatus, ScheduleStatus
from tests.unit.client import payloads
from tests.unit.client.conftest import API, api_calls, query_of

CONNECTIONS = f"{API}/v2/integrations/connections"
SCHEDULES = f"{CONNECTIONS}/{payloads.CONNECTION_ID}/schedules"
ONE_SCHEDULE = f"{SCHEDULES}/{payloads.SCHEDULE_ID}"


def test_list_connections(client, requests_mock):
    requests_mock.get(CONNECTIONS, json=payloads.page([payloads.connection(status="stale")]))
    (connection,) = client.list_connections(tsp_id="t1", fleet_ids=["f1", "f2"], fleet_refs=["FLEET-42"])
    assert connection.status is ConnectionStatus.STALE
    assert connection.credentials == {"api_key": "*****", "url": None, "user_id": None}
    assert query_of(api_calls(requests_mock)[0]) == {
        "tsp_id": ["t1"],
        "fleet_ids": ["f1", "f2"],
        "fleet_refs": ["FLEET-42"],
    }


def test_get_connection(client, requests_mock):
    requests_mock.get(f"{CONNECTIONS}/{payloads.CONNECTION_ID}", json=payloads.connection())
    assert client.get_connection(payloads.CONNECTION_ID).source_name == "catena_simulator"


def test_list_schedules(client, requests_mock):
    requests_mock.get(SCHEDULES, json=payloads.page([payloads.schedule()]))
    (schedule,) = client.list_schedules(payloads.CONNECTION_ID, resource="vehicle_location")
    assert schedule.consecutive_error_threshold == 15
    assert query_of(api_calls(requests_mock)[0]) == {"resource": ["vehicle_location"]}


def test_get_schedule(client, requests_mock):
    requests_mock.get(ONE_SCHEDULE, json=payloads.schedule(status="inactive", consecutive_error_count=15))
    schedule = client.get_schedule(payloads.CONNECTION_ID, payloads.SCHEDULE_ID)
    assert schedule.status is ScheduleStatus.INACTIVE


def test_activate_schedule(client, requests_mock):
    mock = requests_mock.post(f"{ONE_SCHEDULE}/activate", json=payloads.schedule(status="active"))
    assert client.activate_schedule(payloads.CONNECTION_ID, payloads.SCHEDULE_ID).status is ScheduleStatus.ACTIVE
    assert mock.last_request.method == "POST"


def test_list_executions(client, requests_mock):
    requests_mock.get(
        f"{ONE_SCHEDULE}/executions",
        [
            {"json": payloads.page([payloads.execution(status="failed")], next_page="n1")},
            {"json": payloads.page([payloads.execution(id="e2")])},
        ],
    )
    executions = client.list_executions(payloads.CONNECTION_ID, payloads.SCHEDULE_ID, size=1).all()
    assert [e.status for e in executions] == [ExecutionStatus.FAILED, ExecutionStatus.SUCCESS]
    assert executions[0].response == {"records": 12}

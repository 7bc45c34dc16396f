"""A connected sandbox fleet loaded by dlt into DuckDB and into PostgreSQL, through the real client.

Real parts only: the sandbox process over HTTP, the project's CatenaClient, dlt, a DuckDB file, a
PostgreSQL database of the test's own. The sandbox has no admin endpoint that adds or changes rows,
so "only what changed" is shown with time: its locations follow a fixed grid, the second run reaches
30 minutes further than the first, starts from the cursor the first run stored (read back from the
destination, the local state having been removed as on a new worker) and loads exactly the points
Catena holds after it. Expected counts are read from the API, not assumed from the sandbox's grid.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest
from sqlalchemy.engine import make_url

from catena_airflow.client import CatenaClient
from catena_airflow.ingest.dlt_pipeline import LoadSettings, fleet_pipeline, load_fleet, pipeline_name
from catena_airflow.ingest.load_turns import load_turn
from catena_airflow.ingest.telematics_resources import DEFAULT_INITIAL_LOOKBACK, VEHICLE_LOCATIONS, VEHICLES

pytestmark = pytest.mark.integration

LOOKBACK = timedelta(days=1)
#: What these tests are about; every other resource is covered by test_dlt_catalogue.py.
RESOURCES = (VEHICLES, VEHICLE_LOCATIONS)


class RecordingClient:
    """The real client, recording the filters of each list call; ``ignore_fleet_filter`` plays a Catena
    that ignores ``fleet_ids`` and answers with every fleet shared with us."""

    def __init__(self, *, client: CatenaClient, ignore_fleet_filter: bool = False) -> None:
        self.client = client
        self.ignore_fleet_filter = ignore_fleet_filter
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        def call(**filters: Any) -> Any:
            self.calls.append((name, filters))
            if self.ignore_fleet_filter:
                filters = {k: v for k, v in filters.items() if k != "fleet_ids"}
            return method(**filters)

        return call


def connect_fleet(client: CatenaClient, fleet_ref: str) -> str:
    """Invite ``fleet_ref`` (the sandbox's happy path accepts and connects it); its fleet id once its data is shared.

    The fleet id is read from the invitation, which REST always shows once accepted (a share agreement's
    ``fleet_ref`` may be null, as the spec allows).
    """
    invitation = client.create_invitation(fleet_ref=fleet_ref, fleet_name="Dlt Fleet", expires_in_hours=24)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fleet_id = client.get_invitation(invitation.id).fleet_id
        if fleet_id and client.list_vehicles(fleet_ids=[str(fleet_id)]).first_page().items:
            return str(fleet_id)
        time.sleep(0.1)
    raise AssertionError(f"{fleet_ref} was not connected within 60 s")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path) -> LoadSettings:
    if request.param == "duckdb":
        destination = f"duckdb:///{tmp_path / 'catena_data.duckdb'}"
    else:
        destination = request.getfixturevalue("postgres_url")
    return LoadSettings(destination=destination, pipelines_dir=tmp_path / "pipelines")


def query(settings: LoadSettings, sql: str) -> list[tuple]:
    """Read the destination with its own driver, not through dlt."""
    if settings.destination.startswith("duckdb:///"):
        with duckdb.connect(settings.destination.removeprefix("duckdb:///"), read_only=True) as conn:
            return conn.execute(sql).fetchall()
    url = make_url(settings.destination)
    conn = psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def location_calls(client: RecordingClient) -> list[dict[str, Any]]:
    return [filters for name, filters in client.calls if name == "list_vehicle_locations"]


def api_locations(client: CatenaClient, fleet_id: str, start: datetime, end: datetime) -> list[Any]:
    """What Catena (the sandbox) holds for the fleet in ``[start, end)``: the expected counts come from it."""
    return client.list_vehicle_locations(
        fleet_ids=[fleet_id], only_latest=False, from_datetime=start, to_datetime=end, size=1000
    ).all()


def loaded_file_formats(pipeline: Any) -> dict[str, set[str]]:
    """The file formats the last load's rows came in, per table (dlt's own tables and the merges' SQL left out)."""
    formats: dict[str, set[str]] = {}
    for package in pipeline.last_trace.last_load_info.load_packages:
        for job in package.jobs["completed_jobs"]:
            table, file_format = job.job_file_info.table_name, job.job_file_info.file_format
            if not table.startswith("_dlt") and file_format != "sql":
                formats.setdefault(table, set()).add(file_format)
    return formats


def test_a_fleet_loads_then_a_second_run_loads_only_what_changed(sandbox, settings):
    real = sandbox.catena_client()
    fleet_id = connect_fleet(real, f"dlt-{uuid.uuid4().hex[:8]}")
    vehicles = real.list_vehicles(fleet_ids=[fleet_id]).all()
    client = RecordingClient(client=real)
    # Both runs end in the past, so what Catena holds for their windows no longer grows.
    until = datetime.now(UTC) - timedelta(hours=1)
    expected = api_locations(real, fleet_id, until - LOOKBACK, until)

    first = load_fleet(
        client=client, fleet_id=fleet_id, settings=settings, resources=RESOURCES, until=until, initial_lookback=LOOKBACK
    )
    assert first.rows == {"vehicles": len(vehicles), "vehicle_locations": len(expected)} and expected
    (first_call,) = location_calls(client)
    assert (first_call["from_datetime"], first_call["to_datetime"]) == (until - LOOKBACK, until)
    assert first_call["fleet_ids"] == [fleet_id] and first_call["only_latest"] is False
    assert query(settings, "SELECT count(*), count(DISTINCT id) FROM catena.vehicle_locations") == [
        (len(expected), len(expected))
    ]
    (newest,) = query(settings, "SELECT max(occurred_at) FROM catena.vehicle_locations")[0]
    assert newest == max(location.occurred_at for location in expected)

    # Typed resources go as Parquet: into DuckDB as it is, into PostgreSQL by ADBC's COPY (no CSV conversion).
    assert loaded_file_formats(fleet_pipeline(fleet_id=fleet_id, settings=settings)) == {
        "vehicles": {"parquet"},
        "vehicle_locations": {"parquet"},
    }

    # The cursor is stored with the load: a worker without the local state reads it back from the destination.
    shutil.rmtree(settings.pipelines_dir)
    stored = fleet_pipeline(fleet_id=fleet_id, settings=settings)
    stored.sync_destination()
    cursor = stored.state["sources"]["catena"]["resources"]["vehicle_locations"]["incremental"]["occurred_at"]
    assert cursor["last_value"] == newest

    client.calls.clear()
    later = until + timedelta(minutes=30)
    new = [loc for loc in api_locations(real, fleet_id, newest, later) if loc.occurred_at > newest]
    vehicle_mark = max(v.updated_at for v in vehicles)
    changed = [v for v in real.list_vehicles(fleet_ids=[fleet_id]).all() if v.updated_at > vehicle_mark]
    second = load_fleet(client=client, fleet_id=fleet_id, settings=settings, resources=RESOURCES, until=later)
    (second_call,) = location_calls(client)
    assert second_call["from_datetime"] == newest  # applied: Catena is asked from the stored cursor on
    assert second.rows.get("vehicle_locations") == len(new) and new  # the rows at the cursor are not loaded again
    assert second.rows.get("vehicles", 0) == len(changed)
    total = len(expected) + len(new)
    assert query(settings, "SELECT count(*), count(DISTINCT id) FROM catena.vehicle_locations") == [(total, total)]
    assert query(settings, "SELECT count(*) FROM catena.vehicles") == [(len(vehicles),)]


def test_a_fleets_next_load_starts_at_its_own_cursor_after_another_fleets_load(sandbox, settings):
    """A process (a worker) loads fleet A, then fleet B, then A again: A's second load asks Catena from A's
    own cursor, whichever pipeline the process touched last."""
    real = sandbox.catena_client()
    first, other = (connect_fleet(real, f"dlt-turns-{n}-{uuid.uuid4().hex[:6]}") for n in (1, 2))
    until = datetime.now(UTC) - timedelta(hours=1)
    client = RecordingClient(client=real)
    loaded = load_fleet(
        client=client, fleet_id=first, settings=settings, resources=RESOURCES, until=until, initial_lookback=LOOKBACK
    )
    load_fleet(
        client=real, fleet_id=other, settings=settings, resources=RESOURCES, until=until, initial_lookback=LOOKBACK
    )

    client.calls.clear()
    load_fleet(
        client=client, fleet_id=first, settings=settings, resources=RESOURCES, until=until + timedelta(minutes=5)
    )
    (call,) = location_calls(client)
    assert call["from_datetime"] == loaded.cursors["vehicle_locations"]


def test_another_fleets_rows_are_not_loaded_even_when_catena_ignores_the_filter(sandbox, settings):
    real = sandbox.catena_client()
    ours = connect_fleet(real, f"dlt-ours-{uuid.uuid4().hex[:6]}")
    theirs = connect_fleet(real, f"dlt-theirs-{uuid.uuid4().hex[:6]}")
    our_vehicles = len(real.list_vehicles(fleet_ids=[ours]).all())
    their_vehicles = len(real.list_vehicles(fleet_ids=[theirs]).all())
    careless = RecordingClient(client=real, ignore_fleet_filter=True)
    until = datetime.now(UTC) - timedelta(hours=1)
    our_locations = len(api_locations(real, ours, until - LOOKBACK, until))

    loaded = load_fleet(
        client=careless, fleet_id=ours, settings=settings, resources=RESOURCES, until=until, initial_lookback=LOOKBACK
    )
    assert loaded.rows == {"vehicles": our_vehicles, "vehicle_locations": our_locations}
    for table in ("vehicles", "vehicle_locations"):
        assert query(settings, f"SELECT DISTINCT fleet_id FROM catena.{table}") == [(ours,)]

    # The other fleet's own load has a pipeline and cursors of its own: our cursor does not cut its rows.
    load_fleet(
        client=real, fleet_id=theirs, settings=settings, resources=RESOURCES, until=until, initial_lookback=LOOKBACK
    )
    assert sorted(query(settings, "SELECT fleet_id, count(*) FROM catena.vehicles GROUP BY fleet_id")) == sorted(
        [(ours, our_vehicles), (theirs, their_vehicles)]
    )


LOAD_ONE_FLEET = """
import sys
from datetime import datetime
from pathlib import Path

from catena_airflow.client import CatenaClient
from catena_airflow.ingest.dlt_pipeline import LoadSettings, load_fleet
from catena_airflow.ingest.telematics_resources import VEHICLE_LOCATIONS, VEHICLES

api_url, token_url, client_id, client_secret, fleet_id, destination, pipelines_dir, until = sys.argv[1:]
client = CatenaClient(client_id=client_id, client_secret=client_secret, api_url=api_url, auth_url=token_url)
settings = LoadSettings(destination=destination, pipelines_dir=Path(pipelines_dir))
end = datetime.fromisoformat(until)
resources = (VEHICLES, VEHICLE_LOCATIONS)
loaded = load_fleet(client=client, fleet_id=fleet_id, settings=settings, resources=resources, until=end)
print(loaded.rows)
"""


def start_load(sandbox, settings: LoadSettings, fleet_id: str, until: datetime) -> subprocess.Popen[str]:
    """``load_fleet`` of one fleet in a process of its own, as an ingestion task runs it."""
    catena = [sandbox.base_url, sandbox.token_url, sandbox.client_id, sandbox.client_secret]
    arguments = [fleet_id, settings.destination, str(settings.pipelines_dir), until.isoformat()]
    return subprocess.Popen(
        [sys.executable, "-c", LOAD_ONE_FLEET, *catena, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def vehicles_per_fleet(settings: LoadSettings) -> dict[str, int]:
    return dict(query(settings, "SELECT fleet_id, count(*) FROM catena.vehicles GROUP BY fleet_id"))


def test_two_processes_load_two_fleets_into_one_warehouse(sandbox, settings):
    """Loads at once take turns where they write: into a DuckDB file (which refuses a second writing process)
    and into PostgreSQL (where they would share dlt's staging tables); every row lands exactly once."""
    real = sandbox.catena_client()
    fleets = [connect_fleet(real, f"dlt-par-{i}-{uuid.uuid4().hex[:6]}") for i in range(2)]
    until = datetime.now(UTC) - timedelta(hours=1)
    processes = [start_load(sandbox, settings, fleet_id, until) for fleet_id in fleets]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    assert vehicles_per_fleet(settings) == {
        fleet_id: len(real.list_vehicles(fleet_ids=[fleet_id]).all()) for fleet_id in fleets
    }
    start = until - DEFAULT_INITIAL_LOOKBACK  # LOAD_ONE_FLEET's first reach
    for fleet_id in fleets:
        sql = f"SELECT count(*), count(DISTINCT id) FROM catena.vehicle_locations WHERE fleet_id = '{fleet_id}'"
        expected = len(api_locations(real, fleet_id, start, until))
        assert query(settings, sql) == [(expected, expected)]


def normalized_packages(settings: LoadSettings, fleet_id: str) -> list[Path]:
    """The load packages the fleet's pipeline has extracted and normalised, waiting to be loaded."""
    folder = settings.pipelines_dir / pipeline_name(fleet_id) / "load" / "normalized"
    return sorted(folder.iterdir()) if folder.is_dir() else []


class TurnTakingClient(RecordingClient):
    """The real client that, on the load's first page (its extract has begun, so its state sync has had the
    turn and given it back), takes the dataset's turn for the test until ``release``."""

    def __init__(self, *, client: CatenaClient, settings: LoadSettings) -> None:
        super().__init__(client=client)
        self.turn = load_turn(settings.destination, settings.dataset_name)()
        self.taken = threading.Event()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not self.taken.is_set():
            self.turn.__enter__()
            self.taken.set()
        return super().__getattr__(name)

    def release(self) -> None:
        self.turn.__exit__(None, None, None)


def test_a_load_extracts_while_another_holds_the_turn_and_writes_once_it_has_it(sandbox, settings):
    """The turn covers the writes only: with the dataset's turn held elsewhere, a fleet's load reads Catena
    and normalises, then waits; nothing of it reaches the warehouse until the turn is free."""
    real = sandbox.catena_client()
    fleet_id = connect_fleet(real, f"dlt-turn-{uuid.uuid4().hex[:6]}")
    client = TurnTakingClient(client=real, settings=settings)
    until = datetime.now(UTC) - timedelta(hours=1)
    loads: list[Any] = []
    loader = threading.Thread(
        target=lambda: loads.append(
            load_fleet(client=client, fleet_id=fleet_id, settings=settings, resources=RESOURCES, until=until)
        )
    )
    loader.start()
    try:
        deadline = time.monotonic() + 120
        while not normalized_packages(settings, fleet_id):
            assert loader.is_alive(), "the load ended while the turn was held elsewhere"
            assert time.monotonic() < deadline, "the load did not extract while the turn was held elsewhere"
            time.sleep(0.2)
        time.sleep(2.0)  # a load that did not wait for the turn would write now
        assert loader.is_alive()
        assert fleet_id not in vehicles_per_fleet_if_any(settings)
    finally:
        client.release()
        loader.join(300)
    assert loads, "the load failed once it had the turn"
    # Its package was normalised 2 s or more before the release and it asked for the turn right after
    # (1 s of slack for a loader thread descheduled in between).
    assert loads[0].seconds["waiting"] >= 1.0
    assert vehicles_per_fleet(settings) == {fleet_id: len(real.list_vehicles(fleet_ids=[fleet_id]).all())}


def vehicles_per_fleet_if_any(settings: LoadSettings) -> dict[str, int]:
    """``vehicles_per_fleet``, or nothing while the warehouse has no vehicles table yet."""
    try:
        return vehicles_per_fleet(settings)
    except (duckdb.CatalogException, psycopg2.errors.UndefinedTable):
        return {}

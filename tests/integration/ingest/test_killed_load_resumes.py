"""A load killed mid-way (SIGKILL: no clean-up runs) is resumed by the next one without gaps or duplicates.

The load runs in a child process, as a task would on a worker, over the real sandbox and into a real
DuckDB file or PostgreSQL database; the child is killed once dlt has written its load package (the data
is extracted and normalized, its cursor committed with it, not yet all in the destination). The rerun in
this process must end with exactly the rows Catena holds for the window: the pending package loaded,
nothing read twice, nothing skipped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catena_airflow.ingest.dlt_pipeline import LoadSettings, load_fleet, pipeline_name
from tests.integration.ingest.test_dlt_pipeline import api_locations, connect_fleet, query, settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["settings"]

LOOKBACK = timedelta(days=2)

CHILD = """
import json, sys
from datetime import datetime, timedelta
from pathlib import Path
from catena_airflow.client import CatenaClient
from catena_airflow.ingest.dlt_pipeline import LoadSettings, load_fleet

args = json.loads(sys.argv[1])
load_fleet(
    client=CatenaClient(**args["client"]),
    fleet_id=args["fleet_id"],
    settings=LoadSettings(destination=args["destination"], pipelines_dir=Path(args["pipelines_dir"])),
    until=datetime.fromisoformat(args["until"]),
    initial_lookback=timedelta(seconds=args["lookback"]),
    page_size=100,
)
"""


def load_packages(settings: LoadSettings, fleet_id: str) -> list[Path]:
    """dlt's load packages of the fleet's pipeline, normalized and waiting for (or in) the load step."""
    normalized = settings.pipelines_dir / pipeline_name(fleet_id) / "load" / "normalized"
    return list(normalized.iterdir()) if normalized.exists() else []


def kill_mid_load(sandbox, settings: LoadSettings, fleet_id: str, until: datetime) -> None:
    """Run the load in a child and SIGKILL it once its load package is waiting to be loaded."""
    args = {
        "client": {
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "api_url": sandbox.base_url,
            "auth_url": sandbox.token_url,
        },
        "fleet_id": fleet_id,
        "destination": settings.destination,
        "pipelines_dir": str(settings.pipelines_dir),
        "until": until.isoformat(),
        "lookback": LOOKBACK.total_seconds(),
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], env=env)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if load_packages(settings, fleet_id):
                child.send_signal(signal.SIGKILL)
                child.wait(10)
                return
            time.sleep(0.005)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    pytest.fail(f"the child load finished (rc={child.returncode}) before it could be killed")


def test_a_killed_load_is_resumed_without_gaps_or_duplicates(sandbox, settings):
    real = sandbox.catena_client()
    fleet_id = connect_fleet(real, f"killed-{uuid.uuid4().hex[:8]}")
    until = datetime.now(UTC) - timedelta(minutes=5)  # a window in the past: what Catena holds is fixed
    expected = {location.id for location in api_locations(real, fleet_id, until - LOOKBACK, until)}
    assert len(expected) > 1000  # enough pages to be killed part-way

    kill_mid_load(sandbox, settings, fleet_id, until)
    assert load_packages(settings, fleet_id)  # killed with its package pending
    resumed = load_fleet(client=real, fleet_id=fleet_id, settings=settings, until=until, initial_lookback=LOOKBACK)

    rows = query(settings, f"SELECT id FROM catena.vehicle_locations WHERE fleet_id = '{fleet_id}'")
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert not load_packages(settings, fleet_id)
    assert resumed.cursors["vehicle_locations"] == max(
        location.occurred_at for location in api_locations(real, fleet_id, until - LOOKBACK, until)
    )

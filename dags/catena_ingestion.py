"""Load every connected fleet's telematics data into the warehouse, incrementally, on a schedule.

One mapped ``ingest_fleet`` task per connected fleet (from the inbox): a fleet that fails is retried on
its own and never fails or delays the others, and its rerun resumes from its own cursors. The
``[catena] ingestion_pool`` pool (``catena_api``) bounds how many fleets read from Catena at once. A fleet
whose connection went stale is skipped with the reason until the operations DAG sees it active again; a
resource whose Catena schedule is held deactivated is left out for that fleet only.

Schedule: the Airflow Variable ``catena_ingestion_schedule``, else ``[catena] ingestion_schedule``, else
hourly (read when this file is parsed: a schedule cannot change per run). Each run's params narrow it:
``fleet_refs`` (only these fleets), ``resources`` (only these resources), ``initial_lookback_days``,
``correction_window_hours`` (time-series rows read again before each cursor, for Catena's corrections).
Every resource that got rows emits an event of its asset (``catena://telematics/<resource>``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, Variable, task

from catena_airflow import config
from catena_airflow.ingest.telematics_resources import TELEMATICS_RESOURCES
from catena_airflow.operators.ingest import CatenaIngestFleetOperator
from catena_airflow.pools import ingestion_pool

SCHEDULE_VARIABLE = "catena_ingestion_schedule"

with DAG(
    dag_id="catena_ingestion",
    description="Incremental load of every connected fleet's telematics data (one mapped task per fleet)",
    schedule=Variable.get(SCHEDULE_VARIABLE, default=None) or config.get_option("ingestion_schedule") or "@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "fleet_refs": Param(
            [], type="array", items={"type": "string", "minLength": 1}, title="Only these fleet refs (empty: all)"
        ),
        "resources": Param(
            [],
            type="array",
            items={"type": "string", "enum": [r.name for r in TELEMATICS_RESOURCES]},
            title="Only these resources (empty: every one the share agreement grants)",
        ),
        "initial_lookback_days": Param(
            config.get_float("initial_lookback_days"),
            type="number",
            exclusiveMinimum=0,
            title="How far back a resource's first load reaches (days)",
        ),
        "correction_window_hours": Param(
            config.get_float("correction_window_hours"),
            type="number",
            minimum=0,
            title="Re-read this many hours before each cursor (Catena's later corrections and deletions)",
        ),
    },
    render_template_as_native_obj=True,
    tags=["catena", "ingestion"],
    doc_md=__doc__,
):

    @task
    def connected_fleets(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The connected fleets of the inbox, one item each (paused ones too: their task says why it skips)."""
        from catena_airflow.hooks.inbox import CatenaInboxHook
        from catena_airflow.workflows.ingestion import connected_fleets as fleets_of

        fleets = fleets_of(CatenaInboxHook().get_conn(), fleet_refs=(params or {}).get("fleet_refs") or ())
        logging.getLogger(__name__).info("%d connected fleet(s) to load", len(fleets))
        return fleets

    CatenaIngestFleetOperator.partial(
        task_id="ingest_fleet",
        pool=ingestion_pool(),
        catena_resources="{{ params.resources }}",
        initial_lookback="{{ params.initial_lookback_days }}",
        correction_window="{{ params.correction_window_hours }}",
        map_index_template="{{ task.fleet_id['fleet_ref'] or task.fleet_id['fleet_id'] }}",
    ).expand(fleet_id=connected_fleets())

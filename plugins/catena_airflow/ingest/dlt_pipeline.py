"""Load one fleet with dlt: the runner the ingestion tasks call.

One dlt pipeline per fleet (``catena_fleet_<fleet id>``): its incremental cursors, schema and pending
loads are that fleet's alone, so fleets load side by side and a failed fleet's rerun resumes from its
own state (kept in ``pipelines_dir`` and, after each load, in the destination, so a new worker picks it
up too). Every fleet lands in the same dataset and tables, told apart by ``fleet_id``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from catena_airflow.ingest.dlt_destination import DEFAULT_DATASET, LoadSettings, dlt_destination, duckdb_file
from catena_airflow.ingest.dlt_environment import apply_dlt_defaults
from catena_airflow.ingest.dlt_source import (
    DEFAULT_INITIAL_LOOKBACK,
    DEFAULT_PAGE_SIZE,
    NO_CORRECTION_WINDOW,
    SOURCE_NAME,
    fleet_source,
)
from catena_airflow.ingest.duckdb_lock import duckdb_writer_lock
from catena_airflow.ingest.telematics_resources import TELEMATICS_RESOURCES, TelematicsResource


@dataclass(frozen=True, kw_only=True)
class FleetLoad:
    """What one load wrote: rows per table (child tables included), each resource's cursor after it, the load ids."""

    fleet_id: str
    pipeline_name: str
    rows: dict[str, int]
    load_ids: tuple[str, ...]
    cursors: dict[str, datetime | None] = field(default_factory=dict)

    def rows_of(self, resource: str) -> int:
        """Rows of the resource's own table (its child tables hold parts of the same records)."""
        return self.rows.get(resource, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet_id": self.fleet_id,
            "pipeline_name": self.pipeline_name,
            "rows": dict(self.rows),
            "load_ids": list(self.load_ids),
            "cursors": {name: value.isoformat() if value else None for name, value in self.cursors.items()},
        }


def pipeline_name(fleet_id: str) -> str:
    """``catena_fleet_<fleet id>``, with anything but letters, digits and ``_`` made ``_``."""
    return "catena_fleet_" + re.sub(r"[^0-9A-Za-z_]", "_", fleet_id)


def fleet_pipeline(*, fleet_id: str, settings: LoadSettings) -> Any:
    """The fleet's dlt pipeline (its state restored from ``pipelines_dir``, else from the destination)."""
    apply_dlt_defaults()
    import dlt

    settings.pipelines_dir.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=pipeline_name(fleet_id),
        pipelines_dir=str(settings.pipelines_dir),
        destination=dlt_destination(settings.destination),
        dataset_name=settings.dataset_name,
    )


def load_fleet(
    *,
    client: Any,
    fleet_id: str,
    settings: LoadSettings | None = None,
    resources: Sequence[TelematicsResource] = TELEMATICS_RESOURCES,
    until: datetime | None = None,
    initial_lookback: timedelta = DEFAULT_INITIAL_LOOKBACK,
    page_size: int = DEFAULT_PAGE_SIZE,
    correction_window: timedelta = NO_CORRECTION_WINDOW,
) -> FleetLoad:
    """Load what changed in one fleet's resources since its last load; raises if the load failed.

    Into a DuckDB file, loads take turns (``duckdb_lock``): DuckDB refuses a second writing process.
    """
    settings = settings or LoadSettings()
    pipeline = fleet_pipeline(fleet_id=fleet_id, settings=settings)
    source = fleet_source(
        client=client,
        fleet_id=fleet_id,
        resources=resources,
        until=until,
        initial_lookback=initial_lookback,
        page_size=page_size,
        correction_window=correction_window,
    )
    database = duckdb_file(settings.destination)
    with duckdb_writer_lock(database) if database is not None else nullcontext():
        info = pipeline.run(source)
    info.raise_on_failed_jobs()
    counts = pipeline.last_trace.last_normalize_info.row_counts if pipeline.last_trace else {}
    return FleetLoad(
        fleet_id=fleet_id,
        pipeline_name=pipeline.pipeline_name,
        rows={table: n for table, n in counts.items() if not table.startswith("_dlt")},
        load_ids=tuple(info.loads_ids),
        cursors={r.name: cursor_value(pipeline, r) for r in resources},
    )


def cursor_value(pipeline: Any, resource: TelematicsResource) -> datetime | None:
    """How far the resource's incremental cursor has reached in the pipeline's state (None: no row yet)."""
    state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {}).get(resource.name, {})
    value = state.get("incremental", {}).get(resource.cursor, {}).get("last_value")
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__ = [
    "DEFAULT_DATASET",
    "FleetLoad",
    "LoadSettings",
    "cursor_value",
    "fleet_pipeline",
    "load_fleet",
    "pipeline_name",
]

"""Load one fleet with dlt: the runner the ingestion tasks call.

One dlt pipeline per fleet (``catena_fleet_<fleet id>``): its incremental cursors, schema and pending
loads are that fleet's alone, so fleets load side by side and a failed fleet's rerun resumes from its
own state (kept in ``pipelines_dir`` and, after each load, in the destination, so a new worker picks it
up too). Every fleet lands in the same dataset and tables, told apart by ``fleet_id``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from catena_airflow.ingest.dlt_destination import DEFAULT_DATASET, LoadSettings, dlt_destination
from catena_airflow.ingest.dlt_environment import apply_dlt_defaults
from catena_airflow.ingest.dlt_source import (
    DEFAULT_INITIAL_LOOKBACK,
    DEFAULT_PAGE_SIZE,
    NO_CORRECTION_WINDOW,
    SOURCE_NAME,
    fleet_source,
)
from catena_airflow.ingest.load_turns import LoadTurn, load_turn, staging_dataset_layout
from catena_airflow.ingest.telematics_resources import TELEMATICS_RESOURCES, TelematicsResource


@dataclass(frozen=True, kw_only=True)
class FleetLoad:
    """What one load wrote: rows per table (child tables included), each resource's cursor after it, the load
    ids, and the seconds of each step (``extract``, ``normalize``, ``load``, and ``waiting`` for the
    dataset's load turn, ``load_turns``)."""

    fleet_id: str
    pipeline_name: str
    rows: dict[str, int]
    load_ids: tuple[str, ...]
    cursors: dict[str, datetime | None] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

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
            "seconds": {step: round(value, 3) for step, value in self.seconds.items()},
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
        destination=dlt_destination(
            settings.destination, staging_dataset_layout=staging_dataset_layout(settings.destination, fleet_id)
        ),
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

    dlt's ``run`` in its steps, so that loads into one dataset take turns (``load_turns``: they share dlt's
    staging tables, and a DuckDB file takes one writer) only where they touch the warehouse: restoring the
    pipeline's state from it, and loading. Extracting (reading Catena, the long part) and normalising run
    alongside other fleets' loads. Unlike ``run``, a package a killed load left pending does not stop this
    run's extract: its state was committed locally when it was extracted, so this run's cursors continue
    from it, and ``load`` loads both packages in the order they were extracted.
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
    seconds: dict[str, float] = {}
    writer_turn = _timed_turn(load_turn(settings.destination, settings.dataset_name), seconds)
    if pipeline.config.restore_from_destination:  # as ``run`` does: a worker without local state takes the warehouse's
        with writer_turn():
            pipeline.sync_destination()
    with _timed(seconds, "extract"):
        pipeline.extract(source)
    with _timed(seconds, "normalize"):
        normalized = pipeline.normalize()  # None: nothing was extracted (no resource)
    with writer_turn(), _timed(seconds, "load"):
        info = pipeline.load()
    if info is not None:
        info.raise_on_failed_jobs()
    counts = normalized.row_counts if normalized is not None else {}
    return FleetLoad(
        fleet_id=fleet_id,
        pipeline_name=pipeline.pipeline_name,
        rows={table: n for table, n in counts.items() if not table.startswith("_dlt")},
        load_ids=tuple(info.loads_ids) if info is not None else (),
        cursors={r.name: cursor_value(pipeline, r) for r in resources},
        seconds=seconds,
    )


@contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - started


def _timed_turn(turn: LoadTurn, seconds: dict[str, float]) -> LoadTurn:
    """``turn``, the wait for it added to ``seconds["waiting"]``."""

    @contextmanager
    def timed() -> Iterator[None]:
        started = time.perf_counter()
        with turn():
            seconds["waiting"] = seconds.get("waiting", 0.0) + time.perf_counter() - started
            yield

    return timed


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

"""The Catena fleet source for dlt: one dlt resource per entry of ``telematics_resources``.

Pages come from the project's own ``CatenaClient`` paginators, so its token handling, retries and
rate-limit backoff apply and there is no second HTTP client. dlt adds what the hand-written loader did
by hand: merge by Catena id, an incremental cursor per resource (kept in the pipeline's state, and the
pipeline is per fleet, so per fleet and resource), schema inference. Where the spec defines a time
filter for the cursor, the cursor's start is sent as that filter, in windows Catena accepts; where it
defines none (vehicles, users, trailers, ...), every page is read and the cursor skips rows that have not
changed. A resource without a typed client method is read with ``CatenaClient.list_telematics(path)``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from catena_airflow.ingest.arrow_pages import ArrowPages, quiet_json_text_hint_notice
from catena_airflow.ingest.dlt_environment import apply_dlt_defaults
from catena_airflow.ingest.fleet_scope import rows_of_fleet
from catena_airflow.ingest.read_ahead import read_ahead
from catena_airflow.ingest.telematics_resources import (
    DEFAULT_INITIAL_LOOKBACK,
    DEFAULT_PAGE_SIZE,
    TELEMATICS_RESOURCES,
    DayFilter,
    TelematicsResource,
    TimeFilter,
)

SOURCE_NAME = "catena"
#: Rows per Arrow table handed to dlt: its cost is per item (about 7 ms), so a table of several pages
#: loads faster than a table per page (20,000 locations: extract 1.2 s in pages of 300, 0.9 s of 1,000).
ROWS_PER_TABLE = 5_000
NO_CORRECTION_WINDOW = timedelta(0)

#: Types of the fields every telematics record has (client.models.TelematicsRecord), so a column that is
#: null in every row so far (``deleted_at`` until the first deletion) still exists with the right type;
#: ``source_data`` (the TSP's raw record) and ``extras`` vary per TSP: one JSON column each.
COMMON_COLUMNS: dict[str, TColumnSchema] = {
    "id": {"data_type": "text", "nullable": False},
    "fleet_id": {"data_type": "text", "nullable": False},
    "fleet_ref": {"data_type": "text"},
    "connection_id": {"data_type": "text"},
    "created_at": {"data_type": "timestamp"},
    "updated_at": {"data_type": "timestamp"},
    "deleted_at": {"data_type": "timestamp"},
    "occurred_at": {"data_type": "timestamp"},
    "source_data": {"data_type": "json"},
    "extras": {"data_type": "json"},
}


def column_hints(definition: TelematicsResource, builder: ArrowPages | None = None) -> dict[str, TColumnSchema]:
    """The common columns plus the definition's JSON columns (and, for a typed resource, its model's)."""
    json_columns = [*definition.json_columns, *(builder.untyped if builder else ())]
    return {**COMMON_COLUMNS, **{name: {"data_type": "json"} for name in json_columns}}


def _arrow_pages(definition: TelematicsResource) -> ArrowPages | None:
    """The Arrow page builder of a resource with a client model; None: its pages stay rows."""
    if definition.model is None:
        return None
    quiet_json_text_hint_notice(definition.name)
    return ArrowPages.of(definition.model, json_columns=definition.json_columns)


def _arrow_tables(pages: Iterator[list[dict[str, Any]]], builder: ArrowPages) -> Iterator[Any]:
    """The pages' rows as Arrow tables of about ``ROWS_PER_TABLE`` rows; a table bringing a column never
    seen before declares it JSON (dlt hints)."""
    declared: set[str] = set()

    def table_of(rows: list[dict[str, Any]]) -> Any:
        table = builder.table(rows)
        new_json = [name for name in builder.json_columns(table) if name not in declared]
        if not new_json:
            return table
        declared.update(new_json)
        hints = dlt.mark.make_hints(columns={name: {"data_type": "json"} for name in new_json})
        return dlt.mark.with_hints(table, hints)

    pending: list[dict[str, Any]] = []
    for rows in pages:
        pending.extend(rows)
        if len(pending) >= ROWS_PER_TABLE:
            yield table_of(pending)
            pending = []
    if pending:
        yield table_of(pending)


def time_windows(time_filter: TimeFilter, start: datetime, until: datetime) -> Iterator[dict[str, datetime]]:
    """The filter values covering ``[start, until)`` in consecutive windows no longer than Catena accepts."""
    while start < until:
        end = min(start + time_filter.max_window, until)
        yield {time_filter.from_param: start, time_filter.to_param: end}
        start = end


def days(day_filter: DayFilter, start: date, until: datetime) -> Iterator[dict[str, date]]:
    """One query per UTC day from ``start`` to the day ``until`` (exclusive) falls in, that day so far included."""
    last = (until.astimezone(UTC) - timedelta(microseconds=1)).date()
    day = start
    while day <= last:
        yield {day_filter.param: day}
        day += timedelta(days=1)


def _queries(definition: TelematicsResource, start: Any, until: datetime) -> Iterator[dict[str, Any]]:
    """The time filter values of each call: none, windows of at most the allowed length, or days."""
    time_filter = definition.time_filter
    if time_filter is None:
        return iter([{}])
    if isinstance(time_filter, DayFilter):
        return days(time_filter, date.fromisoformat(str(start)[:10]), until)
    return time_windows(time_filter, start, until)


def initial_cursor(definition: TelematicsResource, until: datetime, initial_lookback: timedelta) -> Any:
    """Where a first load starts: nothing for an unfiltered resource, else ``until - initial_lookback``
    (as the day, ``YYYY-MM-DD`` like the records' field, for a day filter)."""
    if definition.time_filter is None:
        return None
    start = until - initial_lookback
    if isinstance(definition.time_filter, DayFilter):
        return start.astimezone(UTC).date().isoformat()
    return start


def _list_method(definition: TelematicsResource, client: Any) -> Callable[..., Any]:
    """The paginator factory of ``definition``: its typed client method, else the generic path-based one."""
    if definition.list_method is not None:
        method: Callable[..., Any] = getattr(client, definition.list_method)
        return method
    return functools.partial(client.list_telematics, path=definition.path)


def _rows(
    definition: TelematicsResource,
    *,
    client: Any,
    fleet_id: str,
    page_size: int,
    until: datetime,
    cursor: Any,
) -> Iterator[list[dict[str, Any]]]:
    list_method = _list_method(definition, client)
    for query in _queries(definition, cursor.start_value, until):
        size = min(page_size, definition.max_page_size)
        paginator = list_method(fleet_ids=[fleet_id], size=size, **definition.params, **query)
        for page in paginator.pages():
            yield rows_of_fleet(page.items, fleet_id=fleet_id, resource=definition.name)


def telematics_resource(
    definition: TelematicsResource,
    *,
    client: Any,
    fleet_id: str,
    until: datetime,
    initial_lookback: timedelta = DEFAULT_INITIAL_LOOKBACK,
    page_size: int = DEFAULT_PAGE_SIZE,
    correction_window: timedelta = NO_CORRECTION_WINDOW,
    client_lock: threading.Lock | None = None,
) -> DltResource:
    """One dlt resource: merge on the primary key, incremental on the definition's cursor.

    ``correction_window``: a resource filtered by ``occurred_at`` reads again the rows that occurred this
    long before its cursor (dlt's ``lag``), so the corrections and deletions Catena makes to rows after
    they occurred (``updated_at`` moves, ``deleted_at`` is set) are merged in; the API has no filter on
    ``updated_at`` for these resources, so nothing else can find them. Resources without a time filter
    read every page anyway and need none.

    ``client_lock``: held while ``client`` reads a page; the resources of one source share it (dlt reads
    them in turns, each a page ahead: ``read_ahead``).
    """
    client_lock = client_lock or threading.Lock()
    initial = initial_cursor(definition, until, initial_lookback)
    builder = _arrow_pages(definition)
    lag = correction_window.total_seconds() if isinstance(definition.time_filter, TimeFilter) else 0
    # A day filter reads the cursor's day again because its rows change (today's segments grow): no
    # deduplication at the cursor, so they are loaded again and merged on the primary key.
    dedup_key = () if isinstance(definition.time_filter, DayFilter) else None

    def rows(
        cursor: dlt.sources.incremental[Any] = dlt.sources.incremental(  # noqa: B008 - dlt reads the default
            definition.cursor,
            initial_value=initial,
            on_cursor_value_missing="include",
            primary_key=dedup_key,
            lag=lag or None,
        ),
    ) -> Iterator[Any]:
        pages = read_ahead(
            _rows(definition, client=client, fleet_id=fleet_id, page_size=page_size, until=until, cursor=cursor),
            client_lock=client_lock,
        )
        yield from pages if builder is None else _arrow_tables(pages, builder)

    return dlt.resource(
        rows,
        name=definition.name,
        primary_key=definition.primary_key,
        write_disposition=definition.write_disposition,
        columns=column_hints(definition, builder),
        # Parquet for Arrow pages: DuckDB loads it as it is, PostgreSQL by ADBC's binary COPY (the postgres
        # extra's adbc-driver-postgresql). Left to dlt, PostgreSQL converted it to CSV first: 200,000
        # locations loaded at 0.45x the fetch-only rate then, 0.55x as Parquet (benchmarks/RESULTS.md).
        file_format="parquet" if builder is not None else "preferred",
    )


def fleet_source(
    *,
    client: Any,
    fleet_id: str,
    resources: Sequence[TelematicsResource] = TELEMATICS_RESOURCES,
    until: datetime | None = None,
    initial_lookback: timedelta = DEFAULT_INITIAL_LOOKBACK,
    page_size: int = DEFAULT_PAGE_SIZE,
    correction_window: timedelta = NO_CORRECTION_WINDOW,
) -> DltSource:
    """The dlt source of one fleet: its telematics resources up to ``until`` (default now)."""
    apply_dlt_defaults()  # making the source is dlt's first configuration read in a task's process
    end = until or datetime.now(UTC)
    if end.tzinfo is None:
        raise ValueError("until must be timezone-aware")

    client_lock = threading.Lock()

    @dlt.source(name=SOURCE_NAME)
    def catena() -> list[DltResource]:
        return [
            telematics_resource(
                definition,
                client=client,
                fleet_id=fleet_id,
                until=end,
                initial_lookback=initial_lookback,
                page_size=page_size,
                correction_window=correction_window,
                client_lock=client_lock,
            )
            for definition in resources
        ]

    return catena()


__all__ = [
    "DEFAULT_INITIAL_LOOKBACK",
    "DEFAULT_PAGE_SIZE",
    "NO_CORRECTION_WINDOW",
    "SOURCE_NAME",
    "fleet_source",
    "telematics_resource",
]

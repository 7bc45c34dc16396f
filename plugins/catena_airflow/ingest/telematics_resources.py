"""The Catena telematics resources that ingestion loads, one entry each.

Why a table: issue #14 grows ingestion from two resources to every telematics resource a fleet shares,
so what differs between them (where they live, what their cursor is and whether the API can filter by
it) is data, and the dlt source is written once. Every filter named here must be one the OpenAPI spec
(tests/data/catena-openapi/telematics.yaml) defines for the path (tests/unit/ingest/test_telematics_resources.py
checks it): a filter Catena does not define would be ignored and the run would silently read everything.

Every list endpoint of the spec's telematics data that takes ``fleet_ids`` is here, except:

- ``/v2/telematics/ref-*`` (rulesets, event codes, time zones, ...): reference data, the same for
  every fleet and not filterable by ``fleet_ids``; not a fleet's data.
- ``/v2/telematics/analytics/*``: aggregates Catena computes from the rows loaded here.
- per-id endpoints: ``/users/{user_id}``, ``/vehicles/{vehicle_id}``, ``/trailers/{trailer_id}`` and
  ``/dvir-logs/{dvir_log_id}/defects`` read one record (or one log's defects) that the lists here
  already hold (the defects in ``/dvir-logs/defects``). ``/hos-events/{hos_event_id}/attachments``
  has no list across events: reading it would cost one request per HOS event loaded, so HOS event
  attachments (scope ``hos_event_attachment``) are not loaded yet.

Scopes are values of Catena's ``ResourceEnum`` (orgs.yaml), the keys of a share agreement's ``scopes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal

from catena_airflow.client.models import TelematicsRecord, Vehicle, VehicleLocation

#: Catena refuses a time window longer than this on the endpoints that take one.
MAX_WINDOW = timedelta(days=45)
DEFAULT_PAGE_SIZE = 300
#: How far back the first load of a time-filtered resource reaches (Catena's own default is one day).
DEFAULT_INITIAL_LOOKBACK = timedelta(days=1)
#: The largest ``size`` most telematics list endpoints accept (hos-events: 500).
MAX_PAGE_SIZE = 1000
#: How dlt loads a resource's rows (its ``write_disposition``; these are dlt's own names).
WriteDisposition = Literal["append", "replace", "merge"]


@dataclass(frozen=True, kw_only=True)
class TimeFilter:
    """A documented time filter of an endpoint: ``from_param <= cursor < to_param``, windows at most ``max_window``."""

    from_param: str
    to_param: str
    max_window: timedelta = MAX_WINDOW


@dataclass(frozen=True, kw_only=True)
class DayFilter:
    """A documented one-day filter: ``param`` is a UTC date, required, and selects the records whose
    ``param`` field is that day; a range is read one day per call."""

    param: str


@dataclass(frozen=True, kw_only=True)
class TelematicsResource:
    """One Catena telematics resource as a dlt resource.

    :param name: dlt resource and destination table name.
    :param scope: the share-agreement scope (Catena's ``ResourceEnum``) that grants reading it.
    :param path: the API list path (checked against the spec).
    :param list_method: a typed ``CatenaClient`` list method that reads ``path`` (filters ``fleet_ids``
        and ``size``); ``None``: ``CatenaClient.list_telematics(path, ...)``, which keeps every field as sent.
    :param cursor: the record field of the incremental cursor (kept in dlt's state per fleet).
    :param time_filter: the API's own filter on ``cursor`` (a from/to window, or one day per call);
        ``None`` when the spec defines none, so the cursor only skips rows client-side (every page is
        still read).
    :param params: fixed query filters (spec names) sent on every call.
    :param json_columns: nested fields kept whole as one JSON column instead of being unnested into
        columns and child tables (a GeoJSON point is one value, not a table of two coordinates).
    :param model: the client model that types the rows (``list_method``'s); with one, each page is loaded
        as an Arrow table, columns typed by the model (``arrow_pages``), else as rows dlt types itself.
    :param max_page_size: the spec's maximum ``size`` for the path; a larger page size is capped to it,
        since Catena answers 422 rather than a smaller page.
    """

    name: str
    scope: str
    path: str
    cursor: str
    list_method: str | None = None
    time_filter: TimeFilter | DayFilter | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    json_columns: tuple[str, ...] = ()
    model: type[TelematicsRecord] | None = None
    max_page_size: int = MAX_PAGE_SIZE
    primary_key: str = "id"
    write_disposition: WriteDisposition = "merge"


def _window(max_window: timedelta = MAX_WINDOW) -> TimeFilter:
    """The spec's ``from_datetime`` (``occurred_at >=``) / ``to_datetime`` (``occurred_at <``) filter."""
    return TimeFilter(from_param="from_datetime", to_param="to_datetime", max_window=max_window)


#: Endpoints whose ``only_latest`` defaults to true (one row per vehicle, trailer or driver): history needs false.
_HISTORY = MappingProxyType({"only_latest": False})
_GEOJSON = ("location",)

# ----------------------------------------------------------------- things (no time filter in the spec)
# The spec gives these lists no time filter: every page is read and the cursor ``updated_at`` loads
# only the rows changed since the last load (Catena sets updated_at on every change).

VEHICLES = TelematicsResource(
    name="vehicles",
    scope="vehicle",
    path="/v2/telematics/vehicles",
    list_method="list_vehicles",
    model=Vehicle,
    cursor="updated_at",
    json_columns=("vehicle_groups",),  # free-form TSP groups: keys vary per fleet
)

USERS = TelematicsResource(
    name="users",
    scope="user",
    path="/v2/telematics/users",
    # is_driver is left unset (default: every user): drivers and office users both belong to the fleet.
    cursor="updated_at",
    json_columns=("company_groups", "private_user_groups", "report_groups", "security_groups"),
)

TRAILERS = TelematicsResource(
    name="trailers",
    scope="trailer",
    path="/v2/telematics/trailers",
    cursor="updated_at",
    json_columns=("trailer_groups",),
)

HOS_AVAILABILITIES = TelematicsResource(
    name="hos_availabilities",
    scope="hos_availability",
    path="/v2/telematics/hos-availabilities",
    # The driver's current hours-of-service clocks: no time filter, revised in place.
    cursor="updated_at",
    json_columns=("exception_codes",),
)

# ----------------------------------------------------------------- series (time-filtered)
# Every endpoint below documents from_datetime / to_datetime as ``occurred_at >= from_datetime`` and
# ``occurred_at < to_datetime``, default the last day, "to_datetime - from_datetime cannot exceed 45 days".

VEHICLE_LOCATIONS = TelematicsResource(
    name="vehicle_locations",
    scope="vehicle_location",
    path="/v2/telematics/vehicle-locations",
    list_method="list_vehicle_locations",
    model=VehicleLocation,
    cursor="occurred_at",
    time_filter=_window(),
    params=_HISTORY,
    json_columns=_GEOJSON,
)

TRAILER_LOCATIONS = TelematicsResource(
    name="trailer_locations",
    scope="trailer_location",
    path="/v2/telematics/trailer-locations",
    cursor="occurred_at",
    time_filter=_window(),
    params=_HISTORY,
    json_columns=_GEOJSON,
)

TRAILER_STATUSES = TelematicsResource(
    name="trailer_statuses",
    scope="trailer_status",
    path="/v2/telematics/trailer-statuses",
    cursor="occurred_at",
    time_filter=_window(),
    params=_HISTORY,
    # A reading's zones, probes and alarms are part of that one reading, not tables of their own.
    json_columns=(*_GEOJSON, "zones", "remote_probe_statuses", "active_alarms"),
)

ENGINE_STATUSES = TelematicsResource(
    name="engine_statuses",
    scope="engine_status",
    path="/v2/telematics/engine-statuses",
    cursor="occurred_at",
    time_filter=_window(),
    params=_HISTORY,
    json_columns=_GEOJSON,
)

DRIVER_VEHICLE_ASSOCIATIONS = TelematicsResource(
    name="driver_vehicle_associations",
    scope="driver_vehicle_association",
    path="/v2/telematics/driver-vehicle-associations",
    cursor="occurred_at",
    time_filter=_window(),
    params=_HISTORY,
)

TRAILER_VEHICLE_ASSOCIATIONS = TelematicsResource(
    name="trailer_vehicle_associations",
    scope="trailer_vehicle_association",
    path="/v2/telematics/trailer-vehicle-associations",
    cursor="occurred_at",
    time_filter=_window(),
    params=_HISTORY,
)

HOS_EVENTS = TelematicsResource(
    name="hos_events",
    scope="hos_event",
    path="/v2/telematics/hos-events",
    cursor="occurred_at",
    # from/to filter occurred_at; active_from/active_to (ended_at / started_at overlap) are not used:
    # they select events by duration, and the cursor is the time each event occurred.
    time_filter=_window(),
    json_columns=(*_GEOJSON, "additional_driver_ids"),
    max_page_size=500,  # the spec's maximum size for hos-events (1000 elsewhere)
)

HOS_DAILY_SNAPSHOTS = TelematicsResource(
    name="hos_daily_snapshots",
    scope="hos_daily_snapshot",
    path="/v2/telematics/hos-daily-snapshots",
    cursor="occurred_at",
    time_filter=_window(),
)

HOS_VIOLATIONS = TelematicsResource(
    name="hos_violations",
    scope="hos_violation",
    path="/v2/telematics/hos-violations",
    cursor="occurred_at",
    time_filter=_window(),
)

DVIR_LOGS = TelematicsResource(
    name="dvir_logs",
    scope="dvir_log",
    path="/v2/telematics/dvir-logs",
    cursor="occurred_at",
    time_filter=_window(),
    # ``defects`` lists the ids of the log's defects; the defects themselves are dvir_log_defects.
    json_columns=(*_GEOJSON, "defects"),
)

DVIR_LOG_DEFECTS = TelematicsResource(
    name="dvir_log_defects",
    scope="dvir_log_defect",
    path="/v2/telematics/dvir-logs/defects",
    cursor="occurred_at",
    time_filter=_window(),
)

ENGINE_LOGS = TelematicsResource(
    name="engine_logs",
    scope="engine_log",
    path="/v2/telematics/engine-logs",
    cursor="occurred_at",
    time_filter=_window(),
    json_columns=("fault_code",),  # free-form, per TSP
)

FUEL_TRANSACTIONS = TelematicsResource(
    name="fuel_transactions",
    scope="fuel_transaction",
    path="/v2/telematics/fuel-transactions",
    cursor="occurred_at",
    time_filter=_window(),
    # inferred_address is a free-form object here (a fixed city/province/country elsewhere).
    json_columns=(*_GEOJSON, "inferred_address"),
)

IFTA_SUMMARIES = TelematicsResource(
    name="ifta_summaries",
    scope="ifta_summary",
    path="/v2/telematics/ifta-summaries",
    cursor="occurred_at",
    time_filter=_window(),
)

DRIVER_SAFETY_EVENTS = TelematicsResource(
    name="driver_safety_events",
    scope="driver_safety_event",
    path="/v2/telematics/driver-safety-events",
    cursor="occurred_at",
    time_filter=_window(),
    json_columns=(*_GEOJSON, "event_metadata"),
)

VEHICLE_SENSOR_EVENTS = TelematicsResource(
    name="vehicle_sensor_events",
    # ResourceEnum has no vehicle_sensor_event; vehicle_sensor is the one that names these events.
    scope="vehicle_sensor",
    path="/v2/telematics/vehicle-sensor-events",
    cursor="occurred_at",
    time_filter=_window(),
)

MESSAGES = TelematicsResource(
    name="messages",
    scope="message",
    path="/v2/telematics/messages",
    cursor="occurred_at",
    time_filter=_window(),
)

GROUP_MESSAGES = TelematicsResource(
    name="group_messages",
    # ResourceEnum has no group_message: a message to a group is a message (the sandbox agrees).
    scope="message",
    path="/v2/telematics/group-messages",
    cursor="occurred_at",
    time_filter=_window(),
    json_columns=("recipient_ids", "source_recipient_ids"),
)

VEHICLE_REGION_SEGMENTS = TelematicsResource(
    name="vehicle_region_segments",
    scope="vehicle_region_segment",
    path="/v2/telematics/vehicle-region-segments",
    # processing_date (required) is the UTC day the segments are listed for, the record's own field: read
    # day by day from the cursor's day, which is read again (today's segments grow until midnight).
    # group_by is left unset: one row per visit, as Catena records them.
    cursor="processing_date",
    time_filter=DayFilter(param="processing_date"),
)

TELEMATICS_RESOURCES: tuple[TelematicsResource, ...] = (
    VEHICLES,
    VEHICLE_LOCATIONS,
    USERS,
    TRAILERS,
    HOS_AVAILABILITIES,
    TRAILER_LOCATIONS,
    TRAILER_STATUSES,
    ENGINE_STATUSES,
    DRIVER_VEHICLE_ASSOCIATIONS,
    TRAILER_VEHICLE_ASSOCIATIONS,
    HOS_EVENTS,
    HOS_DAILY_SNAPSHOTS,
    HOS_VIOLATIONS,
    DVIR_LOGS,
    DVIR_LOG_DEFECTS,
    ENGINE_LOGS,
    FUEL_TRANSACTIONS,
    IFTA_SUMMARIES,
    DRIVER_SAFETY_EVENTS,
    VEHICLE_SENSOR_EVENTS,
    MESSAGES,
    GROUP_MESSAGES,
    VEHICLE_REGION_SEGMENTS,
)


def resources_named(names: tuple[str, ...] | list[str] | None) -> tuple[TelematicsResource, ...]:
    """The definitions of ``names`` (all when ``None``); an unknown name is an error, not a silent skip."""
    if names is None:
        return TELEMATICS_RESOURCES
    known = {r.name: r for r in TELEMATICS_RESOURCES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown telematics resource(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[n] for n in names)


def resources_for_scopes(scopes: Mapping[str, Any] | None) -> tuple[TelematicsResource, ...]:
    """The resources a share agreement's ``scopes`` let us read: a scope whose level is null is not granted."""
    granted = {name for name, level in (scopes or {}).items() if level is not None}
    return tuple(r for r in TELEMATICS_RESOURCES if r.scope in granted)


__all__ = [
    "DEFAULT_INITIAL_LOOKBACK",
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "MAX_WINDOW",
    "TELEMATICS_RESOURCES",
    "DayFilter",
    "TelematicsResource",
    "TimeFilter",
    "resources_for_scopes",
    "resources_named",
]

"""The Catena telematics resources that ingestion loads, one entry each.

Why a table: issue #14 grows ingestion from two resources to about twenty, so what differs between
them (where they live, which client paginator reads them, what their cursor is and whether the API can
filter by it) is data, and the dlt source is written once. Every filter named here must be one the
OpenAPI spec defines for the path (tests/unit/ingest/test_telematics_resources.py checks it): a filter
Catena does not define would be ignored and the run would silently read everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

#: Catena refuses a time window longer than this on the endpoints that take one.
MAX_WINDOW = timedelta(days=45)
DEFAULT_PAGE_SIZE = 300
#: How far back the first load of a time-filtered resource reaches (Catena's own default is one day).
DEFAULT_INITIAL_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class TimeFilter:
    """A documented time filter of an endpoint: ``from_param <= cursor < to_param``, windows at most ``max_window``."""

    from_param: str
    to_param: str
    max_window: timedelta = MAX_WINDOW


@dataclass(frozen=True, kw_only=True)
class TelematicsResource:
    """One Catena telematics resource as a dlt resource.

    :param name: dlt resource and destination table name.
    :param scope: the share-agreement scope (Catena's ``ResourceEnum``) that grants reading it.
    :param path: the API path the client method reads (checked against the spec).
    :param list_method: the ``CatenaClient`` method whose paginator reads it (filters ``fleet_ids`` and ``size``).
    :param cursor: the record field of the incremental cursor (kept in dlt's state per fleet).
    :param time_filter: the API's own filter on ``cursor``; ``None`` when the spec defines none, so the
        cursor only skips rows client-side (every page is still read).
    :param params: fixed query filters (spec names) sent on every call.
    :param json_columns: nested fields kept whole as one JSON column instead of being unnested into
        columns and child tables (a GeoJSON point is one value, not a table of two coordinates).
    """

    name: str
    scope: str
    path: str
    list_method: str
    cursor: str
    time_filter: TimeFilter | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    json_columns: tuple[str, ...] = ()
    primary_key: str = "id"
    write_disposition: str = "merge"


VEHICLES = TelematicsResource(
    name="vehicles",
    scope="vehicle",
    path="/v2/telematics/vehicles",
    list_method="list_vehicles",
    # The spec gives /vehicles no time filter: read every page, load the rows changed since the cursor.
    cursor="updated_at",
)

VEHICLE_LOCATIONS = TelematicsResource(
    name="vehicle_locations",
    scope="vehicle_location",
    path="/v2/telematics/vehicle-locations",
    list_method="list_vehicle_locations",
    # from_datetime / to_datetime filter occurred_at (>= / <), at most 45 days apart.
    cursor="occurred_at",
    time_filter=TimeFilter(from_param="from_datetime", to_param="to_datetime"),
    # only_latest defaults to true (one point per vehicle): history needs false.
    params=MappingProxyType({"only_latest": False}),
    json_columns=("location",),
)

TELEMATICS_RESOURCES: tuple[TelematicsResource, ...] = (VEHICLES, VEHICLE_LOCATIONS)


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
    "MAX_WINDOW",
    "TELEMATICS_RESOURCES",
    "TelematicsResource",
    "TimeFilter",
    "resources_for_scopes",
    "resources_named",
]

"""Incremental ingestion of one fleet: client page iterator -> upsert -> advance the watermark per page.

Each page is committed together with its watermark, so a run that dies half-way resumes from the
last committed page, and replaying a page only rewrites the same rows (upsert by Catena id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from catena_airflow.ingest.schema import vehicle_locations, vehicles
from catena_airflow.ingest.store import DestinationStore, as_utc, utcnow

log = logging.getLogger(__name__)

VEHICLES = "vehicles"
VEHICLE_LOCATIONS = "vehicle_locations"
RESOURCES = (VEHICLES, VEHICLE_LOCATIONS)

#: Catena refuses telematics time windows longer than this.
MAX_WINDOW = timedelta(days=45)
DEFAULT_PAGE_SIZE = 300


class Pages(Protocol):
    def pages(self) -> Iterable[Any]: ...


class TelematicsClient(Protocol):
    """The part of ``CatenaClient`` ingestion uses: paginators whose ``pages()`` follow ``next_page``."""

    def list_vehicles(self, **params: Any) -> Pages: ...

    def list_vehicle_locations(self, **params: Any) -> Pages: ...


@dataclass
class SyncResult:
    """What one resource's sync did (returned as XCom, so only plain values)."""

    fleet_id: str
    resource: str
    pages: int = 0
    rows: int = 0
    watermark: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet_id": self.fleet_id,
            "resource": self.resource,
            "pages": self.pages,
            "rows": self.rows,
            "watermark": self.watermark,
        }


def record_dict(record: Any) -> dict[str, Any]:
    """A Catena record as JSON-safe dict, whether the client gave a pydantic model or a mapping."""
    if isinstance(record, Mapping):
        return dict(record)
    if hasattr(record, "to_wire"):
        return record.to_wire()
    return record.model_dump(mode="json", by_alias=True)


def vehicle_row(record: Mapping[str, Any], fleet_id: str) -> dict[str, Any]:
    return {
        "id": str(record["id"]),
        "fleet_id": str(record.get("fleet_id") or fleet_id),
        "fleet_ref": record.get("fleet_ref"),
        "connection_id": record.get("connection_id"),
        "source_id": record.get("source_id"),
        "vehicle_name": record.get("vehicle_name"),
        "vin": record.get("vin"),
        "license_plate_number": record.get("license_plate_number"),
        "is_active": record.get("is_active"),
        "status": record.get("status"),
        "occurred_at": as_utc(record.get("occurred_at")),
        "updated_at": as_utc(record.get("updated_at")),
        "deleted_at": as_utc(record.get("deleted_at")),
        "record": dict(record),
    }


def location_row(record: Mapping[str, Any], fleet_id: str) -> dict[str, Any]:
    coordinates = (record.get("location") or {}).get("coordinates") or [None, None]
    return {
        "id": str(record["id"]),
        "fleet_id": str(record.get("fleet_id") or fleet_id),
        "fleet_ref": record.get("fleet_ref"),
        "vehicle_id": record.get("vehicle_id"),
        "occurred_at": as_utc(record.get("occurred_at")),
        "longitude": coordinates[0],
        "latitude": coordinates[1],
        "speed": record.get("speed"),
        "odometer": record.get("odometer"),
        "record": dict(record),
    }


def own_rows(rows: list[dict[str, Any]], fleet_id: str, resource: str) -> list[dict[str, Any]]:
    """The rows of ``fleet_id`` only: a server that ignored the ``fleet_ids`` filter must not make us copy
    other fleets' data (each is checked like any list item, see client/ownership.py)."""
    own = [r for r in rows if r["fleet_id"] == fleet_id]
    if len(own) != len(rows):
        log.warning("Fleet %s %s: dropped %d row(s) of other fleets", fleet_id, resource, len(rows) - len(own))
    return own


def _isoformat(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def sync_vehicles(
    client: TelematicsClient, store: DestinationStore, *, fleet_id: str, page_size: int = DEFAULT_PAGE_SIZE
) -> SyncResult:
    """Vehicles have no time filter in Catena: page through all, upsert those changed since the watermark."""
    result = SyncResult(fleet_id=fleet_id, resource=VEHICLES)
    watermark = store.get_watermark(fleet_id, VEHICLES)
    for page in client.list_vehicles(fleet_ids=[fleet_id], size=page_size).pages():
        rows = own_rows([vehicle_row(record_dict(r), fleet_id) for r in page.items], fleet_id, VEHICLES)
        changed = [r for r in rows if watermark is None or r["updated_at"] is None or r["updated_at"] > watermark]
        page_mark = max((r["updated_at"] for r in rows if r["updated_at"]), default=None)
        result.rows += store.apply_page(
            fleet_id=fleet_id, resource=VEHICLES, table=vehicles, rows=changed, watermark=page_mark
        )
        result.pages += 1
    result.watermark = _isoformat(store.get_watermark(fleet_id, VEHICLES))
    log.info("Fleet %s: %d vehicle(s) new or changed over %d page(s)", fleet_id, result.rows, result.pages)
    return result


def sync_vehicle_locations(
    client: TelematicsClient,
    store: DestinationStore,
    *,
    fleet_id: str,
    initial_lookback: timedelta = timedelta(days=1),
    page_size: int = DEFAULT_PAGE_SIZE,
    now: datetime | None = None,
) -> SyncResult:
    """Locations since the watermark (inclusive, so nothing at the boundary is missed), oldest first."""
    result = SyncResult(fleet_id=fleet_id, resource=VEHICLE_LOCATIONS)
    until = now or utcnow()
    start = store.get_watermark(fleet_id, VEHICLE_LOCATIONS) or (until - initial_lookback)
    while start < until:
        end = min(start + MAX_WINDOW, until)
        paginator = client.list_vehicle_locations(
            fleet_ids=[fleet_id], from_datetime=start, to_datetime=end, only_latest=False, size=page_size
        )
        for page in paginator.pages():
            rows = own_rows([location_row(record_dict(r), fleet_id) for r in page.items], fleet_id, VEHICLE_LOCATIONS)
            page_mark = max((r["occurred_at"] for r in rows if r["occurred_at"]), default=None)
            result.rows += store.apply_page(
                fleet_id=fleet_id, resource=VEHICLE_LOCATIONS, table=vehicle_locations, rows=rows, watermark=page_mark
            )
            result.pages += 1
        start = end
    result.watermark = _isoformat(store.get_watermark(fleet_id, VEHICLE_LOCATIONS))
    log.info("Fleet %s: %d vehicle location(s) over %d page(s)", fleet_id, result.rows, result.pages)
    return result


def sync_fleet(
    client: TelematicsClient,
    store: DestinationStore,
    *,
    fleet_id: str,
    resources: Iterable[str] = RESOURCES,
    page_size: int = DEFAULT_PAGE_SIZE,
    initial_lookback: timedelta = timedelta(days=1),
) -> dict[str, dict[str, Any]]:
    """Sync each resource of one fleet; returns a summary per resource."""
    summary: dict[str, dict[str, Any]] = {}
    for resource in resources:
        if resource == VEHICLES:
            outcome = sync_vehicles(client, store, fleet_id=fleet_id, page_size=page_size)
        elif resource == VEHICLE_LOCATIONS:
            outcome = sync_vehicle_locations(
                client, store, fleet_id=fleet_id, page_size=page_size, initial_lookback=initial_lookback
            )
        else:
            raise ValueError(f"unknown resource {resource!r}; expected one of {', '.join(RESOURCES)}")
        summary[resource] = outcome.as_dict()
    return summary

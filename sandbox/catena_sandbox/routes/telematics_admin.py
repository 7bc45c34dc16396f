"""Admin API for telematics data (``/sandbox/telematics/...``, no auth): change or delete chosen records now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from catena_sandbox.clock import as_utc, utcnow
from catena_sandbox.errors import CatenaError
from catena_sandbox.routes.common import SandboxDep
from catena_sandbox.telematics import edits
from catena_sandbox.telematics.records import Row
from catena_sandbox.telematics.resources import BY_NAME
from catena_sandbox.telematics.selection import lanes, lanes_for_entities
from catena_sandbox.telematics.series import Series, tick_at_or_after

router = APIRouter(prefix="/sandbox/telematics", tags=["sandbox admin"])
MAX_EDITS = 1_000_000


class ChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: str = "vehicle-locations"  # the path after /v2/telematics/
    fleet_ids: list[str] | None = None  # default: every connected fleet
    fraction: float = Field(default=0.01, gt=0, le=1)  # every (1/fraction)-th record of the selection
    from_datetime: datetime | None = None  # series: the window of occurred_at (default the last day)
    to_datetime: datetime | None = None
    delete: bool = False


@router.post("/changes")
def change_records(body: ChangeBody, sandbox: SandboxDep) -> dict[str, Any]:
    """Correct (or delete) every (1/fraction)-th record of a selection now; returns the ids changed."""
    resource = BY_NAME.get(body.resource)
    if resource is None:
        raise CatenaError(400, f"Unknown telematics resource {body.resource!r}; one of {sorted(BY_NAME)}")
    now = utcnow()
    with sandbox.store.lock:
        connections = [
            c
            for c in sandbox.store.connections.values()
            if c.status != "deleted" and (not body.fleet_ids or c.fleet_id in body.fleet_ids)
        ]
    step = max(1, round(1 / body.fraction))
    if resource.kind == "entity":
        rows = [Row(resource, lane.connection, lane.thing) for lane in lanes_for_entities(resource, connections)]
        chosen = [row.id for row in rows[::step]]
    else:
        end = as_utc(body.to_datetime) or now
        start = as_utc(body.from_datetime) or end - timedelta(days=1)
        hi = min(tick_at_or_after(end, resource.interval), tick_at_or_after(now, resource.interval))
        series = Series(
            lanes(resource, connections, sandbox.settings.speed, sandbox.store.telematics_edits),
            tick_at_or_after(start, resource.interval),
            hi,
        )
        if series.total // step > MAX_EDITS:
            raise CatenaError(400, f"More than {MAX_EDITS} records would change: narrow the selection")
        chosen = [
            Row(resource, lane.connection, lane.thing, lane.slot, tick).id
            for offset in range(0, series.total, step)
            for lane, tick in series.slice(offset, 1)
        ]
    with sandbox.store.lock:
        for record_id in chosen:
            edits.note(sandbox.store.telematics_edits, record_id, now, delete=body.delete)
    return {"resource": resource.name, "changed": len(chosen), "at": now.isoformat(), "ids": chosen}

"""Which telematics resources the sandbox serves, what share-agreement scope each needs, and their cadence.

``kind`` is ``entity`` (a small list of things, revised over time), ``series`` (a row every ``interval``
seconds per lane, paged lazily) or ``child`` (rows of a parent series row, listed under the parent's path).
``lanes`` names the things a series is kept for, and ``slots`` how many lanes each thing has (message
directions, defect slots).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

MINUTE, HOUR, DAY = 60, 3600, 86_400
BASE = "/v2/telematics/"


@dataclass(frozen=True)
class Resource:
    path: str
    scope: str  # the share agreement scope (Catena's ResourceEnum) that grants it
    kind: str  # entity | series | child
    lanes: str  # vehicle | driver | user | trailer | office
    interval: int = 0  # seconds between rows of one lane (series)
    slots: int = 1
    parent: str | None = None  # child: the name of the series whose rows it belongs to

    @cached_property
    def name(self) -> str:
        """A stable short name: the path after the service prefix, without parameters."""
        return self.path.removeprefix(BASE).replace("/{hos_event_id}", "").replace("/{dvir_log_id}", "")


RESOURCES: tuple[Resource, ...] = (
    Resource(BASE + "vehicles", "vehicle", "entity", "vehicle"),
    Resource(BASE + "users", "user", "entity", "user"),
    Resource(BASE + "trailers", "trailer", "entity", "trailer"),
    Resource(BASE + "hos-availabilities", "hos_availability", "entity", "driver"),
    Resource(BASE + "vehicle-locations", "vehicle_location", "series", "vehicle", MINUTE),
    Resource(BASE + "trailer-locations", "trailer_location", "series", "trailer", 5 * MINUTE),
    Resource(BASE + "trailer-statuses", "trailer_status", "series", "trailer", 15 * MINUTE),
    Resource(BASE + "engine-statuses", "engine_status", "series", "vehicle", 5 * MINUTE),
    Resource(BASE + "engine-logs", "engine_log", "series", "vehicle", HOUR),
    Resource(BASE + "vehicle-sensor-events", "vehicle_sensor", "series", "vehicle", 30 * MINUTE),
    Resource(BASE + "hos-events", "hos_event", "series", "driver", 30 * MINUTE),
    Resource(BASE + "hos-daily-snapshots", "hos_daily_snapshot", "series", "driver", DAY),
    Resource(BASE + "hos-violations", "hos_violation", "series", "driver", 3 * DAY),
    Resource(BASE + "driver-safety-events", "driver_safety_event", "series", "driver", 6 * HOUR),
    Resource(BASE + "dvir-logs", "dvir_log", "series", "vehicle", DAY),
    Resource(BASE + "dvir-logs/defects", "dvir_log_defect", "series", "vehicle", DAY, slots=2),
    Resource(BASE + "fuel-transactions", "fuel_transaction", "series", "vehicle", 2 * DAY),
    Resource(BASE + "ifta-summaries", "ifta_summary", "series", "vehicle", DAY),
    Resource(BASE + "driver-vehicle-associations", "driver_vehicle_association", "series", "vehicle", 8 * HOUR),
    Resource(BASE + "trailer-vehicle-associations", "trailer_vehicle_association", "series", "trailer", 12 * HOUR),
    Resource(BASE + "messages", "message", "series", "driver", 2 * HOUR, slots=2),
    Resource(BASE + "vehicle-region-segments", "vehicle_region_segment", "series", "vehicle", DAY),
    Resource(BASE + "group-messages", "message", "series", "office", 12 * HOUR),
    Resource(
        BASE + "hos-events/{hos_event_id}/attachments",
        "hos_event_attachment",
        "child",
        "driver",
        30 * MINUTE,
        parent="hos-events",
    ),
    Resource(BASE + "dvir-logs/{dvir_log_id}/defects", "dvir_log_defect", "child", "vehicle", DAY, parent="dvir-logs"),
)
BY_PATH = {r.path: r for r in RESOURCES}
BY_NAME = {r.name: r for r in RESOURCES if r.kind != "child"}
# single-record reads: path -> the list resource they read from
GETS = {
    BASE + "vehicles/{vehicle_id}": BASE + "vehicles",
    BASE + "users/{user_id}": BASE + "users",
    BASE + "trailers/{trailer_id}": BASE + "trailers",
}

"""A connected fleet's things, derived from its fleet id: vehicles, drivers, office users and trailers.

Every id, name and count comes from a hash of the fleet id, so the same fleet always has the same fleet. An
entity may be deleted at a fleet-specific (sandbox) time after the connection: its record then shows
``deleted_at`` and its time series stop there.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from catena_sandbox.catalogue import NAMESPACE
from catena_sandbox.state import Connection

HISTORY = timedelta(days=7)  # the TSP already held a week of data when the fleet connected
OEMS = (("Freightliner", "Cascadia"), ("Volvo", "VNL 860"), ("Kenworth", "T680"), ("Peterbilt", "579"))
TRAILER_OEMS = (("Utility", "3000R"), ("Great Dane", "Everest"), ("Wabash", "DuraPlate"))
CITIES = (("Dallas", "TX", 32.78, -96.80), ("Chicago", "IL", 41.88, -87.63), ("Denver", "CO", 39.74, -104.99))
FIRST_NAMES = ("Ana", "Ben", "Carla", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lea")
LAST_NAMES = ("Ortiz", "Nguyen", "Smith", "Okafor", "Kowalski", "Haddad", "Larsen", "Moreau")
DELETE_ONE_IN = 6  # about one entity in six (never the first of a kind) is deleted some days after connecting


def seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()[:8], "big")


def entity_uuid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts)))


@dataclass(frozen=True)
class Thing:
    """A vehicle, user (driver or office) or trailer of one connection."""

    kind: str  # vehicle | driver | office | trailer
    index: int
    id: str
    source_id: str
    name: str
    seed: int
    lifetime: timedelta | None  # sandbox time from the connection to its deletion; None: never deleted
    partner: dict[str, str | None] = field(default_factory=dict)  # ids of the things it works with

    def deleted_at(self, connected: datetime, speed: float) -> datetime | None:
        return None if self.lifetime is None else connected + self.lifetime / speed


def _lifetime(kind: str, index: int, value: int) -> timedelta | None:
    if index == 0 or value % DELETE_ONE_IN:
        return None
    return timedelta(days=2 + value % 19, hours=value % 24)


def vehicle_count(fleet_id: str) -> int:
    return 3 + seed(fleet_id, "vehicles") % 6


def trailer_count(fleet_id: str) -> int:
    return 2 + seed(fleet_id, "trailers") % 4


def vehicle_id(fleet_id: str, index: int) -> str:
    return entity_uuid(fleet_id, "vehicle", index)


@dataclass(frozen=True)
class Fleet:
    vehicles: tuple[Thing, ...]
    drivers: tuple[Thing, ...]
    office: tuple[Thing, ...]
    trailers: tuple[Thing, ...]

    @property
    def users(self) -> tuple[Thing, ...]:
        return self.drivers + self.office

    def of(self, kind: str) -> tuple[Thing, ...]:
        return {"vehicle": self.vehicles, "driver": self.drivers, "office": self.office, "trailer": self.trailers}[kind]


def _thing(fleet_id: str, kind: str, index: int, name: str, partner: dict[str, str | None]) -> Thing:
    value = seed(fleet_id, kind, index)
    ident = vehicle_id(fleet_id, index) if kind == "vehicle" else entity_uuid(fleet_id, kind, index)
    return Thing(
        kind=kind,
        index=index,
        id=ident,
        source_id=f"{kind[:3]}-{value % 10**8:08d}",
        name=name,
        seed=value,
        lifetime=_lifetime(kind, index, value),
        partner=partner,
    )


@lru_cache(maxsize=4096)
def fleet_of(fleet_id: str) -> Fleet:
    vehicles = vehicle_count(fleet_id)
    drivers = [
        _thing(
            fleet_id,
            "driver",
            i,
            f"{FIRST_NAMES[(seed(fleet_id, 'first', i)) % len(FIRST_NAMES)]} "
            f"{LAST_NAMES[(seed(fleet_id, 'last', i)) % len(LAST_NAMES)]}",
            {"vehicle_id": vehicle_id(fleet_id, i) if i < vehicles else None},
        )
        for i in range(vehicles + 1)  # one spare driver
    ]
    office = [_thing(fleet_id, "office", i, f"Dispatch {i + 1}", {}) for i in range(2)]
    trailers_n = trailer_count(fleet_id)
    trailers = [
        _thing(fleet_id, "trailer", i, f"Trailer {i + 1:03d}", {"vehicle_id": vehicle_id(fleet_id, i % vehicles)})
        for i in range(trailers_n)
    ]
    vehicle_things = [
        _thing(fleet_id, "vehicle", i, f"Truck {i + 1:03d}", {"driver_id": drivers[i].id}) for i in range(vehicles)
    ]
    return Fleet(tuple(vehicle_things), tuple(drivers), tuple(office), tuple(trailers))


def history_start(connection: Connection) -> datetime:
    return connection.created_at - HISTORY


@lru_cache(maxsize=4096)
def city(fleet_id: str) -> tuple[str, str, float, float]:
    return CITIES[seed(fleet_id, "base") % len(CITIES)]

"""The small TSP catalogue the sandbox offers (a few real ``source_name`` values plus Catena's simulator)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

NAMESPACE = uuid.UUID("5f0c6a52-8e63-4a0e-9f52-2f8b8f1b7c10")
CATALOGUE_DATE = datetime(2025, 1, 1, tzinfo=UTC)
TSPS: dict[str, str] = {
    "samsara": "Samsara",
    "geotab": "Geotab",
    "motive": "Motive",
    "catena_simulator": "Catena Simulator",
}
DEFAULT_TSP = "samsara"


def tsp_id(source_name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"tsp:{source_name}"))


def tsp_for(limit_tsps: list[str] | None) -> str:
    """The TSP the simulated fleet connects: the first allowed one the sandbox knows, else Samsara."""
    for name in limit_tsps or ():
        if name in TSPS:
            return name
    return DEFAULT_TSP

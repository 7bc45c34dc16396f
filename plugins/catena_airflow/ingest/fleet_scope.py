"""Rows of the fleet being ingested, and only those.

Catena list filters are trusted for nothing (client/ownership.py): a server that ignored ``fleet_ids``
would hand back every fleet shared with us, and loading them under this fleet's run would put one
customer's data where another's is expected. So every row is checked: its ``fleet_id`` (required by
the spec on every telematics record) must be the fleet asked for; anything else is dropped and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)


def as_row(record: Any) -> dict[str, Any]:
    """A client model (or mapping) as a dict of the fields Catena sent: wire names, datetimes as datetimes."""
    if isinstance(record, Mapping):
        return dict(record)
    row: dict[str, Any] = record.model_dump(mode="python", by_alias=True, exclude_unset=True)
    return row


def rows_of_fleet(records: Iterable[Any], *, fleet_id: str, resource: str) -> list[dict[str, Any]]:
    """The records whose ``fleet_id`` is ``fleet_id``, as rows; a missing ``fleet_id`` proves nothing: dropped."""
    rows = [as_row(record) for record in records]
    own = [row for row in rows if row.get("fleet_id") is not None and str(row["fleet_id"]) == fleet_id]
    if len(own) != len(rows):
        log.warning("Fleet %s %s: dropped %d row(s) not of this fleet", fleet_id, resource, len(rows) - len(own))
    return own


__all__ = ["as_row", "rows_of_fleet"]

"""The Airflow Assets of ingested Catena data: one per telematics resource, e.g. ``catena://telematics/vehicles``.

Ingestion tasks emit through one alias (``catena_telematics``) and add an event only for the resources a
load actually wrote rows to, with the fleet and the row count as the event's extra; an asset per
resource declared as every task's outlet would fire "new vehicle locations landed" for loads that wrote
none. Users schedule on the asset itself: ``schedule=[telematics_asset("vehicle_locations")]``.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

TELEMATICS_ALIAS = AssetAlias(name="catena_telematics", group="catena")
TELEMATICS_URI_PREFIX = "catena://telematics/"


def telematics_asset(resource: str) -> Asset:
    """The asset of one resource (``vehicles``, ``vehicle_locations``, ...); named by its URI."""
    uri = TELEMATICS_URI_PREFIX + resource
    return Asset(name=uri, uri=uri, group="catena")


__all__ = ["TELEMATICS_ALIAS", "TELEMATICS_URI_PREFIX", "telematics_asset"]

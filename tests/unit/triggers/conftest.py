from __future__ import annotations

import pytest

from catena_airflow.triggers.fleet_connected import CatenaFleetConnectedTrigger
from tests.unit.airflow_layer import catena_api, inbox

__all__ = ["catena_api", "inbox"]


@pytest.fixture(autouse=True)
def no_minimum_deferral(monkeypatch):
    """Events at once in these tests; the minimum itself has its own test."""
    monkeypatch.setattr(CatenaFleetConnectedTrigger, "min_deferral_seconds", 0.0)

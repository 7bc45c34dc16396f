from __future__ import annotations

from tests.unit.airflow_layer import catena_api, inbox

__all__ = ["catena_api", "inbox"]

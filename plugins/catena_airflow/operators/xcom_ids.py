"""Ids handed between tasks either as plain strings or inside the upstream task's XCom mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException


def id_from(value: Any, key: str, problem: str) -> str:
    """``value`` itself, or ``value[key]`` for a mapping; a clear task failure when there is none."""
    if isinstance(value, Mapping):
        value = value.get(key)
    if not value or not isinstance(value, str):
        raise AirflowFailException(f"{problem}, got {value!r}")
    return value

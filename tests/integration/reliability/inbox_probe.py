"""Reading the inbox the way an auditor would: raw rows, counted in SQL, not through the store's API."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError


def _rows(inbox_url: str, sql: str) -> list[Any]:
    engine = create_engine(inbox_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def event_id_counts(inbox_url: str) -> Counter[str]:
    """How many rows each event id has in ``catena_events`` (the store promises exactly one)."""
    return Counter(dict(_rows(inbox_url, "SELECT event_id, count(*) FROM catena_events GROUP BY event_id")))


def stored_count(inbox_url: str) -> int:
    """Rows in ``catena_events``; 0 before the receiver created the schema on its first delivery."""
    try:
        return sum(event_id_counts(inbox_url).values())
    except ProgrammingError:
        return 0


def stored_event_ids(inbox_url: str) -> set[str]:
    return set(event_id_counts(inbox_url))


def onboarding_stages(inbox_url: str) -> dict[str, str]:
    """fleet_ref -> gating stage of every onboarding in the inbox."""
    return dict(_rows(inbox_url, "SELECT fleet_ref, stage FROM catena_onboardings"))

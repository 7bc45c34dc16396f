"""Comparing onboardings by content (tests only)."""

from __future__ import annotations

from typing import Any

from catena_airflow.inbox.models import Onboarding


def comparable(onboarding: Onboarding | None) -> dict[str, Any] | None:
    """The read model without row bookkeeping (ids and row times), to compare projections."""
    if onboarding is None:
        return None
    return onboarding.model_dump(exclude={"created_at", "updated_at"})

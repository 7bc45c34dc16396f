"""Marks the PostgreSQL half of tests parametrized by the ``inbox_url`` fixture with ``postgres``."""

from __future__ import annotations

from pathlib import Path

import pytest


def mark_postgres_variants(items: list[pytest.Item], under: Path) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("inbox_url") == "postgresql" and under in Path(item.path).parents:
            item.add_marker(pytest.mark.postgres)

"""Fixtures the inbox's test files share."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.fixtures.databases import migrated_store


@pytest.fixture
def store(sqlite_url):
    """A migrated SQLite inbox of the test's own (a file may define its own ``store`` instead)."""
    with migrated_store(sqlite_url) as store:
        yield store


def local_time_zone(monkeypatch: pytest.MonkeyPatch, name: str) -> Iterator[None]:
    """The process's local time zone is ``name`` until the generator resumes (then restored)."""
    monkeypatch.setenv("TZ", name)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def machine_in_india(monkeypatch):
    """The process's local time zone is UTC+05:30 for the test (restored afterwards)."""
    yield from local_time_zone(monkeypatch, "Asia/Kolkata")

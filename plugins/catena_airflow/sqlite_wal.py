"""Switching a SQLite file to WAL safely when many connections open it at the same moment."""

from __future__ import annotations

import random
import sqlite3
import time
from typing import Any

BUSY_TIMEOUT_MS = 30_000


def ensure_wal(cursor: Any, *, timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    """Switch a database to WAL once.

    The switch needs exclusive access and SQLite answers "locked" at once (no busy wait) while other
    connections are open, so it is skipped when already done and otherwise retried: on a fresh file
    every process of the stack, or every mapped task of a bulk run, connects at the same moment.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + 0.05 * random.random())

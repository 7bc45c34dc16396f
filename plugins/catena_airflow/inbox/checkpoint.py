"""Checkpointing a SQLite inbox's write-ahead log off the commit path.

By default, the connection whose commit takes the WAL past 1,000 pages copies it back into the
database file inside that commit: for the receiver, one batch in a few hundred then waits tens of
milliseconds, which was its p99. A store created with ``checkpoint_in_background`` turns that off for
its own connections and checkpoints from a thread instead. PASSIVE checkpoints never block writers
or readers; other processes keep SQLite's default, so the WAL is still bounded if this one stops.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 0.5


class WalCheckpointer:
    """A daemon thread running ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds."""

    def __init__(self, engine: Engine, *, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catena-inbox-checkpoint", daemon=True)
        self.checkpoints = 0  # observable for tests

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, WAL frames, frames checkpointed), as SQLite reports them."""
        raw = self._engine.raw_connection()  # autocommit (see store._sqlite_setup): no open transaction
        try:
            cursor = raw.cursor()
            busy, frames, done = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        self.checkpoints += 1
        return busy, frames, done

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
                failing = False
            except Exception as exc:
                if not failing:  # once per outage, not every half second
                    log.warning("Catena inbox WAL checkpoint failed (retrying): %s", type(exc).__name__)
                failing = True

"""Group commit: one writer thread commits queued deliveries in batches, then acknowledges each.

Under load, requests that arrive while a batch is committing form the next batch, so one commit (one
fsync) serves many deliveries; at low load a batch is a single delivery and adds no delay. A request is
answered only after the transaction holding its event has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from catena_airflow.inbox import InboxStore, IncomingEvent, RecordOutcome

log = logging.getLogger(__name__)


@dataclass
class _Job:
    item: IncomingEvent
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[RecordOutcome]


class _Stop(enum.Enum):
    """The writer thread's stop signal: an enum member, so ``is _STOP`` tells the queue's items apart."""

    STOP = enum.auto()


_STOP: Final = _Stop.STOP

#: A job's answer: what the store recorded, or what the commit raised.
_Result = tuple[_Job, RecordOutcome | BaseException]


class GroupCommitWriter:
    """Serializes inbox writes of this process through one thread that commits in batches."""

    def __init__(
        self,
        store_provider: Callable[[], InboxStore],
        *,
        max_batch: int = 256,
        counter_flush_seconds: float = 2.0,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self._store_provider = store_provider
        self._on_failure = on_failure
        self._max_batch = max_batch
        self._counter_flush_seconds = counter_flush_seconds
        self._queue: queue.SimpleQueue[_Job | _Stop] = queue.SimpleQueue()
        self._counters: Counter[str] = Counter()
        self._counters_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # observable for tests and benchmarks
        self.largest_batch = 0

    async def submit(self, item: IncomingEvent, *, timeout: float) -> RecordOutcome:
        """Queue ``item``; return once its batch committed. Raises whatever the commit raised."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        job = _Job(item, loop, loop.create_future())
        self._queue.put(job)
        return await asyncio.wait_for(job.future, timeout)

    def count(self, name: str, n: int = 1) -> None:
        """Add to a receiver counter; written with the next batch (or within ``counter_flush_seconds``)."""
        with self._counters_lock:
            self._counters[name] += n
        self._ensure_started()

    def close(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="catena-inbox-writer", daemon=True)
                self._thread.start()

    def _take_counters(self) -> dict[str, int]:
        with self._counters_lock:
            counts = dict(self._counters)
            self._counters.clear()
        return counts

    def _restore_counters(self, counts: dict[str, int]) -> None:
        with self._counters_lock:
            self._counters.update(counts)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._counter_flush_seconds)
            except queue.Empty:
                self._flush_counters()
                continue
            if first is _STOP:
                self._flush_counters()
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                batch.append(job)
            self._commit(batch)
            if stop:
                self._flush_counters()
                return

    def _commit(self, batch: list[_Job]) -> None:
        counts = self._take_counters()
        try:
            store = self._store_provider()
            outcomes = store.record_events([job.item for job in batch], counters=counts)
        except Exception as exc:
            self._restore_counters(counts)
            if self._on_failure is not None:
                self._on_failure()
            if len(batch) == 1:
                _settle([(batch[0], exc)])
                return
            # One bad delivery must not fail its batch-mates: commit each on its own.
            log.warning("Inbox batch of %d failed (%s); committing one by one", len(batch), type(exc).__name__)
            for job in batch:
                self._commit([job])
            return
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        _settle([(job, outcome) for job, outcome in zip(batch, outcomes, strict=True)])

    def _flush_counters(self) -> None:
        counts = self._take_counters()
        if not counts:
            return
        try:
            self._store_provider().add_counters(counts)
        except Exception as exc:
            self._restore_counters(counts)
            log.warning("Could not write receiver counters: %s", type(exc).__name__)


def _settle(results: list[_Result]) -> None:
    """Answer a batch's requests with ONE wake-up per event loop (not one per request)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
    for result in results:
        by_loop.setdefault(result[0].loop, []).append(result)
    for loop, loop_results in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting any more
            loop.call_soon_threadsafe(_resolve, loop_results)


def _resolve(results: list[_Result]) -> None:
    for job, outcome in results:
        if job.future.done():  # the request gave up waiting (timeout): not an error here
            continue
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

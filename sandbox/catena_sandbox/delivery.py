"""Background webhook delivery, and the timers of the fleet scenarios, on an event loop in their own thread.

Each delivery: gzip JSON envelope, Catena's headers, ``X-Catena-Signature`` = base64 HMAC-SHA256 of
``timestamp + "." + uncompressed body`` with the subscription's secret. 5xx, timeouts and connection
errors are retried with exponential backoff; after the last retry the message goes to the subscription's
dead-letter queue. Nothing here runs on the API's event loop, so deliveries never block API calls.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from catena_sandbox.clock import utcnow
from catena_sandbox.faults import FaultState
from catena_sandbox.settings import Settings
from catena_sandbox.state import DeliveryLog, Message, Store

log = logging.getLogger(__name__)

EWMA_ALPHA = 0.1
USER_AGENT = "Catena-Webhook"


@dataclass(frozen=True, slots=True)
class Job:
    message: Message
    attempt: int
    generation: int
    duplicate: bool = False


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def envelope_bytes(message: Message, attempt: int) -> bytes:
    envelope = {
        "version": message.version,
        "event_name": message.event_name,
        "webhook_id": message.webhook_id,
        "timestamp": message.timestamp,
        "id": message.event_id,
        "delivery_attempt": attempt,
        "data": message.data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


class DeliveryEngine:
    """Owns the background thread: a pool of delivery workers plus scheduled scenario callbacks."""

    def __init__(self, *, settings: Settings, store: Store, faults: FaultState) -> None:
        self._settings = settings
        self._store = store
        self._faults = faults
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Job] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._count_lock = threading.Lock()
        self.pending = 0  # messages accepted and not yet finished (queued, waiting to retry, or in flight)
        self.timers = 0
        self.on_breaker: Callable[[str], None] | None = None  # called with a webhook id after a DLQ streak
        self.counters = {"submitted": 0, "attempts": 0, "delivered": 0, "failed_attempts": 0, "dead_lettered": 0}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="catena-sandbox-engine", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("delivery engine did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
            loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._queue = asyncio.Queue()
        self._stopping = asyncio.Event()
        workers = self._settings.delivery_workers
        connector = aiohttp.TCPConnector(limit=workers, limit_per_host=workers, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self._settings.delivery_timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
            tasks = [asyncio.create_task(self._worker(session)) for _ in range(workers)]
            self._ready.set()
            await self._stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- thread-safe entry points ----------------------------------------------------------------
    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the engine thread after ``delay`` s, unless the state is reset meanwhile."""
        generation = self._store.generation
        with self._count_lock:
            self.timers += 1

        def run() -> None:
            with self._count_lock:
                self.timers -= 1
            if generation != self._store.generation:
                return
            try:
                callback(*args)
            except Exception:
                log.exception("scenario step failed")

        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.call_later, max(delay, 0.0), run)

    def submit(self, message: Message) -> None:
        """Queue a message (new, or replayed from the DLQ) for delivery.

        Receiver faults are drawn here, in the caller's thread, so they follow the settings in force
        when the event was published.
        """
        generation = self._store.generation
        attempt = message.attempts + 1
        jobs = [(Job(message, attempt, generation), self._faults.delivery_delay())]
        if self._faults.chance(self._faults.settings.duplicate_rate):
            jobs.append((Job(message, attempt, generation, duplicate=True), self._faults.delivery_delay()))
        with self._count_lock:
            self.pending += len(jobs)
            self.counters["submitted"] += 1
        assert self._loop is not None
        for job, delay in jobs:
            self._loop.call_soon_threadsafe(self._schedule, job, delay)

    # -- engine thread ---------------------------------------------------------------------------
    def _schedule(self, job: Job, delay: float) -> None:
        assert self._loop is not None and self._queue is not None
        if delay > 0:
            self._loop.call_later(delay, self._queue.put_nowait, job)
        else:
            self._queue.put_nowait(job)

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            try:
                finished = await self._deliver(session, job)
            except Exception:
                log.exception("delivery failed unexpectedly")
                finished = True
            if finished:
                with self._count_lock:
                    self.pending -= 1

    async def _deliver(self, session: aiohttp.ClientSession, job: Job) -> bool:
        """One attempt; False when a retry was scheduled (the message is still pending)."""
        message = job.message
        store = self._store
        if job.generation != store.generation:
            return True
        with store.lock:
            subscription = store.subscriptions.get(message.webhook_id)
            if subscription is None or subscription.status == "deleted":
                return True
            if subscription.status != "active":
                # Paused or stale: nothing is sent; the message waits in the DLQ for a replay.
                if not job.duplicate:
                    store.subscription_stats(message.webhook_id).dlq.append(message)
                return True
            url, secret = subscription.url, subscription.secret
            message.attempts = max(message.attempts, job.attempt)

        body = envelope_bytes(message, job.attempt)
        timestamp = datetime.now(UTC).isoformat(timespec="seconds")
        request_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "X-Catena-Signature": sign(secret, timestamp, body),
            "X-Catena-Timestamp": timestamp,
            "X-Event-Type": message.event_name,
            "X-Webhook-ID": message.webhook_id,
            "X-Request-ID": request_id,
            "X-Schema-Version": message.version,
            "X-Source": "catena-notifications",
            "X-Delivery-Attempt": str(job.attempt),
        }
        payload = gzip.compress(body, compresslevel=6, mtime=0)
        started = time.perf_counter()
        status_code, error = 0, None
        try:
            async with session.post(url, data=payload, headers=headers, allow_redirects=False) as response:
                status_code = response.status
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    await response.read()
        except TimeoutError:
            error = f"Timed out after {self._settings.delivery_timeout:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"Connection error: {type(exc).__name__}"
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        if status_code >= 500:
            error = f"Receiver answered HTTP {status_code}"
        delivered = 0 < status_code < 500
        retry = not delivered and not job.duplicate and job.attempt <= self._settings.max_retries
        self._record(job, status_code, error, elapsed_ms, request_id, delivered, dead=not (delivered or retry))
        if retry:
            delay = self._settings.retry_base_delay * (2 ** (job.attempt - 1))
            self._schedule(Job(message, job.attempt + 1, job.generation), delay)
            return False
        return True

    def _record(
        self,
        job: Job,
        status_code: int,
        error: str | None,
        elapsed_ms: int,
        request_id: str,
        delivered: bool,
        dead: bool,
    ) -> None:
        message = job.message
        success = 200 <= status_code < 300
        entry = DeliveryLog(
            created_at=utcnow(),
            webhook_id=message.webhook_id,
            message_id=message.event_id,
            event_name=message.event_name,
            status="success" if success else "failed",
            status_code=status_code,
            error_message=error if error else (None if success else f"Receiver answered HTTP {status_code}"),
            response_time_ms=elapsed_ms if status_code else None,
            attempt=job.attempt,
            request_id=request_id,
            delivered=delivered,
            duplicate=job.duplicate,
        )
        store = self._store
        with store.lock:
            if job.generation != store.generation:
                return
            stats = store.subscription_stats(message.webhook_id)
            stats.logs.append(entry)
            store.recent.append(entry)
            previous = stats.ewma_success_rate
            value = 1.0 if success else 0.0
            stats.ewma_success_rate = value if previous is None else previous + EWMA_ALPHA * (value - previous)
            if not job.duplicate and (delivered or dead):
                stats.outcomes.append((time.time(), delivered))
                stats.dead_streak = stats.dead_streak + 1 if dead else 0
            if dead:
                stats.dlq.append(message)
            tripped = dead and stats.dead_streak >= self._settings.breaker_failures
        if tripped and self.on_breaker is not None:
            self.on_breaker(message.webhook_id)
        with self._count_lock:
            self.counters["attempts"] += 1
            if not success:
                self.counters["failed_attempts"] += 1
            if delivered and not job.duplicate:
                self.counters["delivered"] += 1
            if dead:
                self.counters["dead_lettered"] += 1

    def stats(self) -> dict[str, Any]:
        with self._count_lock:
            counters = dict(self.counters)
            counters.update(pending=self.pending, timers=self.timers)
        counters["queued"] = self._queue.qsize() if self._queue is not None else 0
        counters["idle"] = counters["pending"] == 0
        return counters

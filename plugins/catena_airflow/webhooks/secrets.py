"""Which secrets may have signed a delivery: its subscription's (from the inbox) plus configured ones."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence

from starlette.concurrency import run_in_threadpool

from catena_airflow.inbox import InboxStore

log = logging.getLogger(__name__)


_MAX_REMEMBERED = 10_000


class SecretResolver:
    """Caches the inbox's subscription secrets; configured secrets (rotation list) always apply.

    The cache is refreshed every ``ttl`` seconds, and early when a delivery names a webhook id it does
    not know, at most once per ``miss_refresh_interval``: unknown ids must not hammer the database.
    Concurrent requests share one refresh (single flight) instead of each reading the table.
    """

    def __init__(
        self,
        store_provider: Callable[[], InboxStore],
        *,
        configured: Sequence[str] = (),
        ttl: float = 30.0,
        miss_refresh_interval: float = 1.0,
    ) -> None:
        self._store_provider = store_provider
        self._configured = tuple(s for s in configured if s)
        self._ttl = ttl
        self._miss_refresh_interval = miss_refresh_interval
        self._by_webhook: dict[str, list[str]] = {}
        self._loaded_at: float | None = None  # last successful refresh
        self._attempted_at: float | None = None  # last refresh started (success or not)
        self._lock = threading.Lock()
        self._inflight: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        # Webhook ids whose deliveries verified with a configured secret (no stored secret of their own).
        self._verified: dict[str, None] = {}

    @property
    def configured(self) -> tuple[str, ...]:
        return self._configured

    def needs_refresh(self, webhook_id: str | None) -> bool:
        """Whether the cache is too old for this delivery (the caller refreshes off the event loop)."""
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at > self._ttl:
            return True
        return (
            bool(webhook_id)
            and webhook_id not in self._by_webhook
            and now - (self._attempted_at or 0.0) > self._miss_refresh_interval
        )

    def refresh(self) -> None:
        """Re-read the subscription secrets (blocking)."""
        with self._lock:
            self._attempted_at = time.monotonic()
            self._by_webhook = self._store_provider().subscription_secret_sets()
            self._loaded_at = time.monotonic()

    async def ensure_fresh(self, webhook_id: str | None) -> bool:
        """Refresh if needed, sharing one in-flight refresh; False when the inbox could not be read."""
        if not self.needs_refresh(webhook_id):
            return True
        loop = asyncio.get_running_loop()
        if self._inflight is None or self._inflight[0] is not loop or self._inflight[1].done():
            self._attempted_at = time.monotonic()
            self._inflight = (loop, asyncio.ensure_future(run_in_threadpool(self.refresh)))
        try:
            await asyncio.shield(self._inflight[1])
        except Exception as exc:
            log.error("Cannot read webhook secrets from the inbox (%s)", type(exc).__name__)
            return False
        return True

    def lookup(self, webhook_id: str) -> list[str]:
        """Read one subscription's secrets now (blocking), e.g. after a failed check: it may have rotated."""
        secrets = self._store_provider().subscription_secret_candidates(webhook_id)
        with self._lock:
            if not secrets:
                self._by_webhook.pop(webhook_id, None)
            else:
                self._by_webhook = {**self._by_webhook, webhook_id: secrets}
        return secrets

    def knows(self, webhook_id: str) -> bool:
        """Whether this subscription's secrets are known: stored in the inbox (at the last refresh), or
        one of its deliveries verified with a configured secret in this process."""
        return webhook_id in self._by_webhook or webhook_id in self._verified

    def verified(self, webhook_id: str | None) -> None:
        """A delivery of ``webhook_id`` verified: its subscription is a known one from now on."""
        if webhook_id and webhook_id not in self._verified:
            if len(self._verified) >= _MAX_REMEMBERED:
                self._verified.pop(next(iter(self._verified)))
            self._verified[webhook_id] = None

    def candidates(self, webhook_id: str | None) -> list[str]:
        """Secrets to try, the subscription's own first (current, next, previous in its grace).
        May be empty (then nothing verifies)."""
        own = self._by_webhook.get(webhook_id or "", [])
        return [*own, *(s for s in self._configured if s not in own)]

"""Which secrets may have signed a delivery: its subscription's (from the inbox) plus configured ones."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from catena_airflow.inbox import InboxStore

log = logging.getLogger(__name__)


class SecretResolver:
    """Caches the inbox's subscription secrets; configured secrets (rotation list) always apply.

    The cache is refreshed every ``ttl`` seconds, and early when a delivery names a webhook id it does
    not know, at most once per ``miss_refresh_interval`` (unknown ids must not hammer the database).
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
        self._by_webhook: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> tuple[str, ...]:
        return self._configured

    def needs_refresh(self, webhook_id: str | None) -> bool:
        """Whether ``candidates`` would read the database (so the caller can do it off the event loop)."""
        if self._loaded_at is None:
            return True
        age = time.monotonic() - self._loaded_at
        if age > self._ttl:
            return True
        return bool(webhook_id) and webhook_id not in self._by_webhook and age > self._miss_refresh_interval

    def refresh(self) -> None:
        with self._lock:
            self._by_webhook = self._store_provider().subscription_secrets()
            self._loaded_at = time.monotonic()

    def candidates(self, webhook_id: str | None) -> list[str]:
        """Secrets to try, the subscription's own first. May be empty (then nothing verifies)."""
        own = self._by_webhook.get(webhook_id or "")
        return ([own] if own else []) + [s for s in self._configured if s != own]

"""Learning the secret of a subscription the inbox does not know, from Catena, off the request path.

Catena creates subscriptions of its own for an invitation's ``callback_url`` (filtered by the
invitation's ``fleet_refs``), and their deliveries arrive under a webhook id this deployment never
subscribed. Refusing them would lose them: Catena counts any 4xx as delivered. So a delivery whose
webhook id has no secret in the inbox is looked up in Catena (``GET /v2/notifications/webhooks/{id}``,
with the ``catena_default`` connection): a readable secret is stored in the inbox and the delivery
verified with it; a webhook id Catena does not know is refused (401); anything else (Catena
unreachable, the secret masked, no connection configured, the lookup still running) is answered 503,
so Catena retries and, failing that, keeps the event in its dead-letter queue for replay.

Bounded: one lookup per webhook id at a time; new lookups drawn from a token bucket (``burst`` at once,
``rate`` a second after that: an invitation's callback_url brings a dozen subscriptions at once, a flood
of made-up ids no more than ``rate`` calls a second); unknown ids remembered for ``unknown_ttl``; and a
request waits at most ``inline_wait`` (well inside Catena's 3 s delivery timeout) before it is answered
503 while the lookup goes on in the background. The Catena client is built in the background at the
receiver's first delivery, so the first lookup does not pay for importing Airflow.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from enum import Enum
from typing import Any

from catena_airflow.client.errors import CatenaError, CatenaNotFoundError
from catena_airflow.inbox import InboxStore

log = logging.getLogger(__name__)

#: Catena's webhook ids are UUIDs; anything else is never sent to Catena's API.
_WEBHOOK_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


class LookupResult(Enum):
    FOUND = "found"  # its secret is in the inbox now: verify again
    UNKNOWN = "unknown"  # Catena has no such subscription: refuse (401)
    UNAVAILABLE = "unavailable"  # cannot tell now: let Catena retry (503)


ClientFactory = Callable[[], Any]


def airflow_catena_client(conn_id: str = "catena_default") -> Any:
    """The Catena client of Airflow connection ``conn_id`` with short retry budgets, or None if undefined."""
    try:
        from airflow.sdk.exceptions import AirflowNotFoundException

        from catena_airflow.hooks.catena import CatenaHook

        try:
            return CatenaHook(catena_conn_id=conn_id, timeout=2.0, max_retries=1, retry_budget_seconds=2.0).get_conn()
        except AirflowNotFoundException:
            return None
    except Exception as exc:  # no Airflow, or a connection that cannot be read: no lookups
        log.warning("Cannot build a Catena client for subscription lookups (%s)", type(exc).__name__)
        return None


class SubscriptionLookup:
    """Looks unknown webhook ids up in Catena; thread-safe, one per receiver."""

    def __init__(
        self,
        client_factory: ClientFactory,
        store_provider: Callable[[], InboxStore],
        *,
        inline_wait: float = 1.0,
        burst: int = 20,
        rate: float = 5.0,
        unknown_ttl: float = 60.0,
        failure_ttl: float = 2.0,
    ) -> None:
        self._client_factory = client_factory
        self._store_provider = store_provider
        self.inline_wait = inline_wait
        self.burst = burst
        self.rate = rate
        self.unknown_ttl = unknown_ttl
        self.failure_ttl = failure_ttl
        self.lookups = 0  # calls made to Catena (tests, logs)
        self._client: Any = None
        self._client_checked_at: float | None = None
        self._client_lock = threading.Lock()
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[LookupResult]] = {}
        self._remembered: dict[str, tuple[LookupResult, float]] = {}
        self._tokens = float(burst)
        self._refilled_at = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="catena-subscription-lookup")
        self._warming = False

    def warm_up(self) -> None:
        """Build the Catena client in the background (it imports Airflow and reads a connection), so
        the first lookup does not pay for it. Called at the first delivery, not at start-up: reading an
        Airflow connection while the api-server is still starting up stalled its start (SQLite)."""
        if not self._warming:
            self._warming = True
            self._pool.submit(self._catena)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def resolve(self, webhook_id: str | None) -> LookupResult:
        """What Catena says about ``webhook_id``, waiting at most ``inline_wait`` for it."""
        if not webhook_id or not _WEBHOOK_ID.match(webhook_id):
            return LookupResult.UNKNOWN
        future = self._start(webhook_id)
        if isinstance(future, LookupResult):
            return future
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.inline_wait)
        except TimeoutError:
            return LookupResult.UNAVAILABLE  # it goes on; Catena's retry finds the answer

    def _start(self, webhook_id: str) -> Future[LookupResult] | LookupResult:
        now = time.monotonic()
        with self._lock:
            remembered = self._remembered.get(webhook_id)
            if remembered is not None and remembered[1] > now:
                return remembered[0]
            running = self._inflight.get(webhook_id)
            if running is not None:
                return running
            self._tokens = min(float(self.burst), self._tokens + (now - self._refilled_at) * self.rate)
            self._refilled_at = now
            if self._tokens < 1:
                return LookupResult.UNAVAILABLE  # rate bound: an unknown-id flood cannot flood Catena
            self._tokens -= 1
            future = self._pool.submit(self._lookup, webhook_id)
            self._inflight[webhook_id] = future
        future.add_done_callback(lambda f: self._finished(webhook_id, f))
        return future

    def _finished(self, webhook_id: str, future: Future[LookupResult]) -> None:
        result = LookupResult.UNAVAILABLE if future.cancelled() or future.exception() else future.result()
        ttl = {LookupResult.UNKNOWN: self.unknown_ttl, LookupResult.UNAVAILABLE: self.failure_ttl}.get(result)
        with self._lock:
            self._inflight.pop(webhook_id, None)
            if ttl:
                self._remembered[webhook_id] = (result, time.monotonic() + ttl)
            if len(self._remembered) > 10_000:  # a long flood of made-up ids: forget the oldest half
                for key in list(self._remembered)[:5_000]:
                    del self._remembered[key]

    def _catena(self) -> Any:
        with self._client_lock:
            return self._build_client()

    def _build_client(self) -> Any:
        now = time.monotonic()
        if self._client is None and (self._client_checked_at is None or now - self._client_checked_at > 60):
            self._client_checked_at = now
            self._client = self._client_factory()
            if self._client is None:
                log.warning(
                    "No Catena connection for looking up unknown webhook subscriptions: deliveries of "
                    "subscriptions whose secret the inbox lacks are answered 503 until it has it"
                )
        return self._client

    def _lookup(self, webhook_id: str) -> LookupResult:
        client = self._catena()
        if client is None:
            return LookupResult.UNAVAILABLE
        self.lookups += 1
        try:
            subscription = client.get_webhook_subscription(webhook_id)
        except CatenaNotFoundError:
            log.warning("Webhook %s is not a subscription Catena knows: its deliveries are refused", webhook_id)
            return LookupResult.UNKNOWN
        except (CatenaError, OSError) as exc:
            log.warning("Could not look webhook %s up in Catena (%s): answered 503", webhook_id, type(exc).__name__)
            return LookupResult.UNAVAILABLE
        if subscription.secret_is_masked:
            log.error(
                "Webhook %s (%s) delivers to this receiver but Catena does not show its secret: run the "
                "invitation's task again or catena_setup to rotate it; its deliveries wait in Catena meanwhile",
                webhook_id,
                subscription.event_name,
            )
            return LookupResult.UNAVAILABLE
        self._store_provider().save_subscription_secret(
            str(subscription.id), subscription.secret.get_secret_value(), event_name=subscription.event_name
        )
        log.info("Learnt the secret of webhook %s (%s) from Catena", webhook_id, subscription.event_name)
        return LookupResult.FOUND


__all__ = ["LookupResult", "SubscriptionLookup", "airflow_catena_client"]

"""Fault injection: receivers get duplicates, reordering and jitter; API clients get 429s and 5xx bursts."""

from __future__ import annotations

import random
import threading

from starlette.types import ASGIApp, Receive, Scope, Send

from catena_sandbox.errors import error_response, too_many_requests
from catena_sandbox.settings import FaultSettings


class FaultState:
    """The faults in force; replaced as a whole by the admin API, read by the API middleware and the engine."""

    def __init__(self, initial: FaultSettings, *, seed: int | None = None) -> None:
        self.initial = initial
        self.settings = initial
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._burst_left = 0

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    def uniform(self, upper: float) -> float:
        with self._lock:
            return self._random.uniform(0.0, upper)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._random.seed(seed)

    def update(self, changes: dict[str, object]) -> FaultSettings:
        """Change some rates; a 5xx burst already under way runs to its end."""
        self.settings = self.settings.updated(changes)
        return self.settings

    def restore(self) -> FaultSettings:
        self.settings = self.initial
        with self._lock:
            self._burst_left = 0
        return self.settings

    def clear(self) -> FaultSettings:
        self.settings = FaultSettings()
        with self._lock:
            self._burst_left = 0
        return self.settings

    def delivery_delay(self) -> float:
        """Extra seconds before a delivery: jitter plus, sometimes, a hold-back that reorders it."""
        faults = self.settings
        delay = self.uniform(faults.jitter_seconds) if faults.jitter_seconds > 0 else 0.0
        if self.chance(faults.reorder_rate):
            delay += faults.reorder_delay
        return delay

    def api_fault(self) -> int | None:
        """Status code to answer an API call with instead of serving it, or None."""
        faults = self.settings
        with self._lock:
            if self._burst_left > 0:
                self._burst_left -= 1
                return 500
        if self.chance(faults.rate_5xx):
            with self._lock:
                self._burst_left = faults.burst_5xx_length - 1
            return 500
        if self.chance(faults.rate_429):
            return 429
        return None


class ApiFaultMiddleware:
    """Pure ASGI middleware (cheap on the hot path) that injects API faults on ``/v2/...`` only."""

    def __init__(self, app: ASGIApp, *, faults: FaultState) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v2/"):
            status = self.faults.api_fault()
            if status == 429:
                await too_many_requests(self.faults.settings.retry_after_seconds)(scope, receive, send)
                return
            if status is not None:  # Catena's documented 500 body: {"message": "Internal Server Error"}
                await error_response(status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

"""Sandbox settings: one immutable object built by the CLI (flags, then environment, then defaults)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields, replace
from typing import Any

from catena_sandbox.variations import check as check_variations

DEFAULT_CLIENT_ID = "sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"


@dataclass(frozen=True, kw_only=True)
class FaultSettings:
    """Fault injection rates; all off by default."""

    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    reorder_delay: float = 0.5
    jitter_seconds: float = 0.0
    rate_429: float = 0.0
    retry_after_seconds: int = 1
    rate_5xx: float = 0.0
    burst_5xx_length: int = 3

    def __post_init__(self) -> None:
        for name in ("duplicate_rate", "reorder_rate", "rate_429", "rate_5xx"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("reorder_delay", "jitter_seconds", "retry_after_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.burst_5xx_length < 1:
            raise ValueError("burst_5xx_length must be at least 1")

    def updated(self, changes: dict[str, Any]) -> FaultSettings:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8090
    public_url: str | None = None
    speed: float = 1.0
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    token_ttl_seconds: int = 3600
    step_seconds: float = 3.0
    min_step_seconds: float = 0.02
    retry_base_delay: float = 0.5
    max_retries: int = 3
    delivery_timeout: float = 3.0
    delivery_workers: int = 64
    mask_urls: bool = True
    failing_threshold: int = 3
    breaker_failures: int = 10
    breaker_grace_seconds: float = 900.0  # Catena time; no breaker in the first 15 min after create/update
    partner_id: str = "019a0000-0000-7000-8000-00000000a001"
    partner_slug: str = "sandbox-partner"
    jwt_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    faults: FaultSettings = field(default_factory=FaultSettings)
    fault_seed: int | None = None
    variations: dict[str, str] = field(default_factory=dict)  # knob -> value at start-up; unnamed knobs vary

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if self.delivery_workers < 1:
            raise ValueError("delivery_workers must be at least 1")
        if self.delivery_timeout <= 0:
            raise ValueError("delivery_timeout must be positive")
        check_variations(self.variations)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def step(self) -> float:
        """Real seconds between two scenario steps."""
        return max(self.step_seconds / self.speed, self.min_step_seconds)

    def scaled(self, nominal_seconds: float) -> float:
        """Real seconds that ``nominal_seconds`` of Catena time take at this speed."""
        return nominal_seconds / self.speed

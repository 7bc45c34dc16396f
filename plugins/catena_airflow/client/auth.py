"""OAuth2 client-credentials tokens for Catena (catena-api.md §1.2-1.3).

One token is cached per provider and shared by every thread; it is fetched again ``refresh_margin``
seconds before ``expires_in`` runs out, or when the API rejects it (see :meth:`invalidate`). Fetching
a token per call "may trigger rate limits", so callers should keep one provider per credential.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr, ValidationError

from catena_airflow.client.errors import CatenaAuthError
from catena_airflow.client.models import Token

__all__ = ["DEFAULT_REFRESH_MARGIN_SECONDS", "TOKEN_SCOPE", "TokenProvider"]

log = logging.getLogger(__name__)

TOKEN_SCOPE = "organization"
DEFAULT_REFRESH_MARGIN_SECONDS = 30.0

#: ``(form) -> Token``: POSTs the form to the token endpoint (with retries), raising typed errors.
TokenFetcher = Callable[[dict[str, str]], Token]


@dataclass(frozen=True)
class _CachedToken:
    value: SecretStr
    refresh_at: float


class TokenProvider:
    """Caches a client-credentials token and refreshes it before it expires. Thread-safe."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | SecretStr,
        fetcher: TokenFetcher,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not client_id:
            raise ValueError("client_id is required")
        secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret or "")
        if not secret.get_secret_value():
            raise ValueError("client_secret is required")
        self.client_id = client_id
        self._client_secret = secret
        self._fetcher = fetcher
        self._refresh_margin = refresh_margin
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: _CachedToken | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id!r})"

    @property
    def client_secret(self) -> SecretStr:
        return self._client_secret

    def fetch(self) -> Token:
        """A brand-new token from the token endpoint (not cached); raises :class:`CatenaAuthError`."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "scope": TOKEN_SCOPE,
        }
        try:
            return self._fetcher(form)
        except ValidationError as exc:
            # hide_input_in_errors on Token keeps the token itself out of this message.
            raise CatenaAuthError(status_code=200, message=f"unexpected token response: {exc}") from None

    def get_token(self) -> str:
        """The cached access token, fetching a new one when absent or about to expire."""
        with self._lock:
            cached = self._cached
            if cached is None or self.clock() >= cached.refresh_at:
                cached = self._refresh_locked()
            return cached.value.get_secret_value()

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (after a 401/403). With ``token``, only if it is still that token,
        so threads that saw the same rejection trigger one refresh, not one each."""
        with self._lock:
            if self._cached is not None and (token is None or self._cached.value.get_secret_value() == token):
                self._cached = None

    def current_secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log or an error message."""
        values = [self._client_secret.get_secret_value()]
        cached = self._cached
        if cached is not None:
            values.append(cached.value.get_secret_value())
        return tuple(values)

    def _refresh_locked(self) -> _CachedToken:
        token = self.fetch()
        lifetime = max(float(token.expires_in), 0.0)
        # Never refresh sooner than half the lifetime, so a short-lived token is not refetched per call.
        margin = min(self._refresh_margin, lifetime / 2)
        self._cached = _CachedToken(value=token.access_token, refresh_at=self.clock() + lifetime - margin)
        log.debug("Fetched a Catena access token for client %s (expires in %ss)", self.client_id, token.expires_in)
        return self._cached

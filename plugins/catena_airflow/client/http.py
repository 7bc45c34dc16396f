"""HTTP transport: bearer auth, retries with backoff, typed errors, secret scrubbing.

Retry rules (catena-api.md §2.0, issue 2):

* **429** is retried for every method: the request was refused, not processed. The wait is Catena's
  ``detail.retry_after_seconds`` (or a ``Retry-After`` header), else the backoff.
* **Connection failures before the request was sent** (refused, DNS, connect timeout) are retried for
  every method: nothing reached Catena.
* **5xx (500/502/503/504) and failures after sending** (reset, read timeout) are *ambiguous*: Catena
  may have acted. They are retried only when the call says it is safe (``retry_ambiguous=True``):
  GET/DELETE, state transitions such as ``/activate``, and invitation create (the same ``fleet_ref``
  refreshes instead of duplicating). Webhook subscription create passes ``False``: a blind retry could
  meet a 409 for the subscription the first attempt made, and only the first response carries a
  generated secret, so the caller must reconcile by listing instead (see ``CatenaClient``).
* **401/403** with a bearer token: the token is dropped, a new one fetched, and the call repeated
  once; a second rejection raises :class:`CatenaAuthError`.
* Backoff is exponential with jitter; attempts are bounded by ``max_retries`` and by a total time
  budget, and a wait that would overrun the budget is not started. Running out raises
  :class:`CatenaRetryBudgetExceeded` carrying the last error.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from catena_airflow.client.auth import TokenProvider
from catena_airflow.client.errors import (
    CatenaAPIError,
    CatenaError,
    CatenaRateLimitError,
    CatenaRetryBudgetExceeded,
    error_for_response,
    redact,
)

__all__ = ["RETRYABLE_STATUS", "HttpTransport", "RetryPolicy"]

log = logging.getLogger(__name__)

#: Server statuses worth another attempt (501 "not implemented" is final).
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    budget_seconds: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so waits never collapse to 0."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2.0 ** (retry_number - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class _Retry(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(self, error: BaseException, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class HttpTransport:
    """Sends one logical request, retrying per the module rules; returns the successful response."""

    def __init__(
        self,
        *,
        session: requests.Session,
        timeout: float,
        retry: RetryPolicy,
        token_provider: TokenProvider | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.timeout = timeout
        self.retry = retry
        self.token_provider = token_provider
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        authenticated: bool = True,
        retry_ambiguous: bool | None = None,
        extra_secrets: Iterable[str] = (),
    ) -> requests.Response:
        method = method.upper()
        if retry_ambiguous is None:
            retry_ambiguous = method in ("GET", "HEAD", "PUT", "DELETE")
        path = urlsplit(url).path
        secrets = tuple(s for s in extra_secrets if s)
        started = self.clock()
        retries = 0
        refreshed_token = False
        while True:
            token = self.token_provider.get_token() if authenticated and self.token_provider else None
            try:
                return self._attempt(method, url, path, params, json_body, form, token, retry_ambiguous, secrets)
            except CatenaAPIError as error:
                if (
                    token is None
                    or self.token_provider is None
                    or error.status_code not in (401, 403)
                    or refreshed_token
                ):
                    raise
                # The token was revoked or rotated early: get a new one and repeat once, no wait.
                log.info(
                    "Catena %s %s -> %s; refreshing the access token and retrying once", method, path, error.status_code
                )
                self.token_provider.invalidate(token)
                refreshed_token = True
            except _Retry as failure:
                retries += 1
                elapsed = self.clock() - started
                wait = failure.wait if failure.wait is not None else self.retry.backoff(retries, self.rng)
                if retries > self.retry.max_retries or elapsed + wait > self.retry.budget_seconds:
                    raise CatenaRetryBudgetExceeded(
                        method=method, path=path, attempts=retries, elapsed=elapsed, last_error=failure.error
                    ) from None
                log.warning(
                    "Catena: %s; retry %d/%d in %.1fs", _short(failure.error), retries, self.retry.max_retries, wait
                )
                self.sleep(wait)

    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        form: Mapping[str, str] | None,
        token: str | None,
        retry_ambiguous: bool,
        secrets: tuple[str, ...],
    ) -> requests.Response:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.session.request(
                method, url, params=params, json=json_body, data=form, headers=headers, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            error = CatenaError(f"{method} {path}: {_connection_problem(exc)}")
            if _never_sent(exc) or retry_ambiguous:
                raise _Retry(error) from None
            raise error from None
        if response.status_code < 400:
            return response
        error = self._error(response, method, path, secrets)
        if isinstance(error, CatenaRateLimitError):
            raise _Retry(error, wait=error.retry_after_seconds)
        if response.status_code in RETRYABLE_STATUS and retry_ambiguous:
            raise _Retry(error)
        raise error

    def _error(self, response: requests.Response, method: str, path: str, secrets: tuple[str, ...]) -> CatenaAPIError:
        known = secrets + (self.token_provider.current_secrets() if self.token_provider else ())
        text = redact(response.text or "", known)
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text[:300] or None
        if response.status_code == 429 and not _has_retry_after(body):
            header = response.headers.get("Retry-After")
            if header and header.strip().isdigit():
                detail = body.get("detail") if isinstance(body, dict) else None
                merged = {**(detail if isinstance(detail, dict) else {}), "retry_after_seconds": int(header)}
                body = {**(body if isinstance(body, dict) else {}), "detail": merged}
        return error_for_response(response.status_code, body, method=method, path=path, reason=response.reason or "")


def _has_retry_after(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("detail"), dict) and "retry_after_seconds" in body["detail"]


def _never_sent(exc: BaseException) -> bool:
    """True when the failure happened before any byte of the request left (safe to retry any method)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | NameResolutionError)


def _connection_problem(exc: BaseException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.Timeout):
        return "read timeout"
    return f"connection error ({type(exc).__name__})"


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:197] + "..."

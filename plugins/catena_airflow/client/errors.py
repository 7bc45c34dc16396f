"""Typed errors carrying Catena's error body (catena-api.md §2.0 "Error bodies").

Messages name the method, path, status and Catena's ``message``/``detail``; they never contain
credentials or tokens (the transport scrubs known secrets before an error is built).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CatenaAPIError",
    "CatenaAuthError",
    "CatenaBadRequestError",
    "CatenaConflictError",
    "CatenaError",
    "CatenaNotFoundError",
    "CatenaRateLimitError",
    "CatenaRetryBudgetExceeded",
    "CatenaServerError",
    "CatenaValidationError",
    "FieldError",
    "error_for_response",
    "redact",
]

REDACTED = "***"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every (non-trivial) secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


class CatenaError(Exception):
    """Base of every error this client raises."""


class CatenaAPIError(CatenaError):
    """Catena answered with an error status."""

    def __init__(
        self,
        *,
        status_code: int,
        message: str,
        code: int | str | None = None,
        detail: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.detail = detail
        self.method = method
        self.path = path
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path} -> " if self.method and self.path else ""
        text = f"{where}HTTP {self.status_code}: {self.message}"
        if self.detail not in (None, "", [], {}):
            text += f" ({_summarise(self.detail)})"
        return text


class CatenaBadRequestError(CatenaAPIError):
    """400: the request is malformed (e.g. an unknown cursor)."""


class CatenaAuthError(CatenaAPIError):
    """401/403 after one token refresh, or the token endpoint refused the credentials."""


class CatenaNotFoundError(CatenaAPIError):
    """404."""


class CatenaConflictError(CatenaAPIError):
    """409 (e.g. a duplicate webhook subscription, deleting an accepted invitation)."""


@dataclass(frozen=True)
class FieldError:
    """One field problem from a 422, whichever of the two shapes Catena used."""

    path: str
    message: str
    error_type: str | None = None


class CatenaValidationError(CatenaAPIError):
    """422. ``errors`` normalises Catena's ``{path, input, message, error_type}`` list and FastAPI's
    ``{"detail": [{"loc", "msg", "type"}]}`` shape; the rejected ``input`` values are not kept."""

    @property
    def errors(self) -> list[FieldError]:
        items = self.detail if isinstance(self.detail, list) else []
        found = []
        for item in items:
            if not isinstance(item, dict):
                continue
            if "loc" in item:
                path = ".".join(str(part) for part in item.get("loc") or ())
                found.append(FieldError(path, str(item.get("msg", "")), item.get("type")))
            else:
                found.append(
                    FieldError(str(item.get("path", "")), str(item.get("message", "")), item.get("error_type"))
                )
        return found

    def _describe(self) -> str:
        where = f"{self.method} {self.path} -> " if self.method and self.path else ""
        text = f"{where}HTTP {self.status_code}: {self.message}"
        if self.errors:
            text += " (" + "; ".join(f"{e.path}: {e.message}" for e in self.errors) + ")"
        elif isinstance(self.detail, str) and self.detail:
            text += f" ({self.detail})"
        return text


class CatenaRateLimitError(CatenaAPIError):
    """429. ``retry_after_seconds`` comes from ``detail.retry_after_seconds`` (or a Retry-After header)."""

    @property
    def retry_after_seconds(self) -> float | None:
        value = self.detail.get("retry_after_seconds") if isinstance(self.detail, dict) else None
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None


class CatenaServerError(CatenaAPIError):
    """5xx (500 comes without ``code``)."""


class CatenaRetryBudgetExceeded(CatenaError):
    """Retries ran out (attempt count or time budget); ``last_error`` is the final failure."""

    def __init__(self, *, method: str, path: str, attempts: int, elapsed: float, last_error: BaseException) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        self.elapsed = elapsed
        self.last_error = last_error
        super().__init__(
            f"{method} {path} gave up after {attempts} attempt(s) in {elapsed:.1f}s; last error: {last_error}"
        )


_BY_STATUS: dict[int, type[CatenaAPIError]] = {
    400: CatenaBadRequestError,
    401: CatenaAuthError,
    403: CatenaAuthError,
    404: CatenaNotFoundError,
    409: CatenaConflictError,
    422: CatenaValidationError,
    429: CatenaRateLimitError,
}


def error_for_response(
    status_code: int, body: Any, *, method: str | None = None, path: str | None = None, reason: str = ""
) -> CatenaAPIError:
    """The typed error for an error status and its (already decoded, already redacted) JSON body."""
    if isinstance(body, dict):
        message = body.get("message") or body.get("error_description") or body.get("error") or reason
        detail = body.get("detail")
        code = body.get("code", body.get("error"))
    else:
        message, detail, code = reason or "error", (body or None), None
    cls = _BY_STATUS.get(status_code) or (CatenaServerError if status_code >= 500 else CatenaAPIError)
    if status_code == 422 and isinstance(body, dict) and isinstance(detail, list):
        detail = [_drop_input(item) for item in detail]
    return cls(
        status_code=status_code,
        message=str(message or "error"),
        code=code,
        detail=detail,
        method=method,
        path=path,
    )


def _drop_input(item: Any) -> Any:
    # 422 items echo the rejected input, which can be a secret sent in the body (e.g. a webhook secret).
    if isinstance(item, dict):
        return {key: value for key, value in item.items() if key not in ("input", "ctx")}
    return item


def _summarise(detail: Any, limit: int = 300) -> str:
    text = str(detail.get("message") or detail) if isinstance(detail, dict) else str(detail)
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""Catena's error bodies (catena-api.md §2.0) and the handlers that make FastAPI answer with them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Invalid Request Body",
    429: "Too Many Requests",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class CatenaError(Exception):
    """Raised by route code; rendered as Catena's ``{"code", "message", "detail"}`` body."""

    def __init__(self, status_code: int, detail: Any = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


def error_body(status_code: int, detail: Any = None) -> dict[str, Any]:
    if status_code == 500:
        return {"message": "Internal Server Error"}  # Catena's 500 body has no code/detail
    return {"code": status_code, "message": MESSAGES.get(status_code, "Error"), "detail": detail}


def error_response(status_code: int, detail: Any = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status_code, detail), status_code=status_code, headers=headers)


def too_many_requests(retry_after_seconds: int) -> JSONResponse:
    detail = {"retry_after_seconds": retry_after_seconds, "message": "Rate limit exceeded, retry later"}
    return error_response(429, detail)


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """FastAPI's validation errors in Catena's ``ValidationErrorDetail`` shape."""
    details = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        details.append(
            {
                "path": ".".join(loc),
                "input": _short(error.get("input")),
                "message": str(error.get("msg", "")),
                "error_type": str(error.get("type", "value_error")),
            }
        )
    return details


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CatenaError)
    async def _catena_error(_request: Request, exc: CatenaError) -> JSONResponse:
        return error_response(exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_details(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if exc.detail not in (None, MESSAGES.get(exc.status_code)) else None
        return error_response(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return error_response(500)

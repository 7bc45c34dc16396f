"""Catena's Keycloak token endpoint and bearer-token checks: HS256 JWTs with Catena's claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response

from catena_sandbox.errors import CatenaError
from catena_sandbox.settings import Settings

REALM_PATH = "/realms/catena"
TOKEN_PATH = f"{REALM_PATH}/protocol/openid-connect/token"
REVOKE_PATH = f"{REALM_PATH}/protocol/openid-connect/revoke"
ISSUER = "https://auth.catenatelematics.com/realms/catena"
PARTNER_SCOPES = (
    "invitation:read invitation:create invitation:delete share-agreement:read share-agreement:update "
    "fleet:read partner:read connection:read schedule:read schedule:update execution:read "
    "webhook:read webhook:create webhook:update webhook:delete telematics:read"
)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Mints and checks the sandbox's access tokens (HS256 JWTs signed with a per-process key)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._key = settings.jwt_key.encode()
        self._revoked: set[str] = set()

    def mint(self, *, subject: str, ttl_seconds: int, scope: str, org_type: str = "partner") -> str:
        now = int(time.time())
        claims = {
            "exp": now + ttl_seconds,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": ISSUER,
            "sub": subject,
            "azp": self._settings.client_id,
            "scope": scope,
            "org": {self._settings.partner_slug: {"id": self._settings.partner_id, "org_type": [org_type]}},
        }
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = _b64url(hmac.new(self._key, signing_input, hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a valid token; raises ``CatenaError(401)`` otherwise."""
        try:
            header, payload, signature = token.split(".")
            expected = _b64url(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(expected, signature):
                raise ValueError("bad signature")
            claims: dict[str, Any] = json.loads(_b64url_decode(payload))
        except (ValueError, json.JSONDecodeError) as exc:
            raise CatenaError(401, "Invalid token") from exc
        if claims.get("exp", 0) <= time.time():
            raise CatenaError(401, "Token expired")
        if claims.get("jti") in self._revoked:
            raise CatenaError(401, "Token revoked")
        return claims

    def revoke(self, token: str) -> None:
        try:
            claims = json.loads(_b64url_decode(token.split(".")[1]))
        except (IndexError, ValueError):
            return
        if "jti" in claims:
            self._revoked.add(claims["jti"])


def _issuer(request: Request) -> TokenIssuer:
    tokens: TokenIssuer = request.app.state.sandbox.tokens
    return tokens


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_token(request: Request) -> dict[str, Any]:
    """Dependency for partner endpoints: a valid bearer token or 401 in Catena's shape."""
    token = _bearer(request)
    if token is None:
        raise CatenaError(401, "Not authenticated")
    return _issuer(request).verify(token)


def optional_token(request: Request) -> dict[str, Any] | None:
    """Dependency for "optionally authenticated" endpoints (fleet accept/decline)."""
    token = _bearer(request)
    return None if token is None else _issuer(request).verify(token)


Claims = Annotated[dict[str, Any], Depends(require_token)]
OptionalClaims = Annotated[dict[str, Any] | None, Depends(optional_token)]

router = APIRouter(tags=["auth"])


def _oauth_error(status_code: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status_code)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """Keycloak also takes the client credentials as HTTP Basic auth (client_secret_basic)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, client_secret = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return client_id, client_secret


@router.post(TOKEN_PATH)
def token(
    request: Request,
    grant_type: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    settings: Settings = request.app.state.sandbox.settings
    client_id, client_secret = _basic_credentials(request) or (client_id, client_secret)
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")
    if not (
        client_id is not None
        and client_secret is not None
        and hmac.compare_digest(client_id, settings.client_id)
        and hmac.compare_digest(client_secret, settings.client_secret)
    ):
        return _oauth_error(401, "invalid_client", "Invalid client or Invalid client credentials")
    if scope is not None and "organization" not in scope.split():
        return _oauth_error(400, "invalid_scope", "Invalid scopes: " + scope)
    ttl = settings.token_ttl_seconds
    access_token = _issuer(request).mint(subject=client_id, ttl_seconds=ttl, scope=PARTNER_SCOPES)
    return JSONResponse(
        {
            "access_token": access_token,
            "expires_in": ttl,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": PARTNER_SCOPES,
        }
    )


@router.post(REVOKE_PATH)
def revoke(
    request: Request,
    token: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
) -> Response:
    settings: Settings = request.app.state.sandbox.settings
    if client_id != settings.client_id or client_secret != settings.client_secret:
        return _oauth_error(401, "invalid_client", "Invalid client or Invalid client credentials")
    if not token:
        return _oauth_error(400, "invalid_request", "Missing token")
    _issuer(request).revoke(token)
    return Response(status_code=200)

from __future__ import annotations

import base64
import json

import pytest

from catena_sandbox.auth import TokenIssuer
from catena_sandbox.errors import CatenaError
from catena_sandbox.settings import Settings


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_tokens_are_jwts_with_catenas_claims() -> None:
    settings = Settings()
    token = TokenIssuer(settings).mint(subject="sandbox", ttl_seconds=60, scope="fleet:read")
    claims = claims_of(token)
    assert claims["iss"] == "https://auth.catenatelematics.com/realms/catena"
    assert claims["exp"] - claims["iat"] == 60 and claims["scope"] == "fleet:read"
    assert claims["org"][settings.partner_slug] == {"id": settings.partner_id, "org_type": ["partner"]}


def test_verify_rejects_foreign_expired_and_revoked_tokens() -> None:
    issuer = TokenIssuer(Settings())
    token = issuer.mint(subject="sandbox", ttl_seconds=60, scope="")
    assert issuer.verify(token)["sub"] == "sandbox"
    other = TokenIssuer(Settings()).mint(subject="sandbox", ttl_seconds=60, scope="")  # another process's key
    expired = issuer.mint(subject="sandbox", ttl_seconds=-1, scope="")
    for bad in (other, expired, "not-a-jwt", token[:-2] + "xx"):
        with pytest.raises(CatenaError) as info:
            issuer.verify(bad)
        assert info.value.status_code == 401
    issuer.revoke(token)
    with pytest.raises(CatenaError):
        issuer.verify(token)

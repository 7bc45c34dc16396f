from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from catena_airflow.client.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
    format_timestamp,
    is_timestamp_fresh,
    verify_signature,
)
from tests.unit.client import payloads

VECTORS = payloads.WEBHOOK_VECTORS


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_compute_signature_matches_reference_vectors(vector):
    body = vector["uncompressed_body"].encode("utf-8")
    assert compute_signature(vector["secret"], vector["x_catena_timestamp"], body) == vector["x_catena_signature"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_verify_signature_accepts_reference_vectors_among_rotating_secrets(vector):
    body = vector["uncompressed_body"].encode("utf-8")
    secrets = ["an-old-secret-0000", SecretStr(vector["secret"])]
    assert verify_signature(secrets, vector["x_catena_timestamp"], body, vector["x_catena_signature"])


def test_verify_signature_rejects_tampering():
    vector = VECTORS[0]
    body = vector["uncompressed_body"].encode()
    ts, sig = vector["x_catena_timestamp"], vector["x_catena_signature"]
    assert not verify_signature(
        [vector["secret"]], ts, body.replace(b'"delivery_attempt":1', b'"delivery_attempt":2'), sig
    )
    assert not verify_signature([vector["secret"]], "2026-03-01T12:00:06+00:00", body, sig)
    assert not verify_signature(["wrong-secret-123"], ts, body, sig)
    assert not verify_signature([], ts, body, sig)
    assert not verify_signature([vector["secret"]], ts, body, "not base64 at all")


def test_signature_covers_raw_bytes_not_reserialised_json():
    vector = VECTORS[1]
    reserialised = json.dumps(
        json.loads(vector["uncompressed_body"]), separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert reserialised != vector["uncompressed_body"].encode()
    assert (
        compute_signature(vector["secret"], vector["x_catena_timestamp"], reserialised) != vector["x_catena_signature"]
    )


def test_header_names():
    assert SIGNATURE_HEADER == "X-Catena-Signature"
    assert TIMESTAMP_HEADER == "X-Catena-Timestamp"


def test_timestamp_format_and_freshness():
    now = datetime(2026, 3, 1, 12, 0, 5, 999, tzinfo=UTC)
    assert format_timestamp(now) == "2026-03-01T12:00:05+00:00"
    assert is_timestamp_fresh("2026-03-01T12:00:05+00:00", now=now)
    assert is_timestamp_fresh(format_timestamp(now - timedelta(seconds=299)), now=now)
    assert not is_timestamp_fresh(format_timestamp(now - timedelta(seconds=301)), now=now)
    assert not is_timestamp_fresh(format_timestamp(now + timedelta(minutes=5)), now=now)
    assert is_timestamp_fresh("2026-03-01T12:00:05Z", now=now)
    assert not is_timestamp_fresh("2026-03-01T12:00:05", now=now)  # naive: refuse to guess the zone
    assert not is_timestamp_fresh("yesterday", now=now)

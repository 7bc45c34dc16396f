from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

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


@pytest.fixture
def host_in_new_york(monkeypatch) -> Iterator[None]:
    """The host's local zone is not UTC (restored afterwards)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


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


def test_a_match_among_rotating_secrets_counts_wherever_it_stands():
    """Every secret is checked (constant time), and a match is not undone by the secrets after it."""
    vector = VECTORS[0]
    body = vector["uncompressed_body"].encode()
    ts, sig = vector["x_catena_timestamp"], vector["x_catena_signature"]
    assert verify_signature([vector["secret"], "a-newer-secret-000"], ts, body, sig)
    assert verify_signature(["older", vector["secret"], "newer"], ts, body, sig)


def test_secrets_timestamps_bodies_and_signatures_as_str_or_bytes():
    vector = VECTORS[0]
    secret, ts, sig = vector["secret"], vector["x_catena_timestamp"], vector["x_catena_signature"]
    body = vector["uncompressed_body"]
    assert compute_signature(secret.encode(), ts.encode(), body) == sig
    assert compute_signature(SecretStr(secret), ts, body.encode()) == sig
    assert verify_signature([secret.encode()], ts, body, sig.encode())
    assert verify_signature([secret], ts, body, f" {sig}\n")  # a header value may carry whitespace


def test_freshness_boundaries_are_inclusive():
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert is_timestamp_fresh(format_timestamp(now - timedelta(seconds=300)), now=now)
    assert not is_timestamp_fresh(format_timestamp(now - timedelta(seconds=301)), now=now)
    assert is_timestamp_fresh(format_timestamp(now + timedelta(seconds=60)), now=now)
    assert not is_timestamp_fresh(format_timestamp(now + timedelta(seconds=61)), now=now)
    assert is_timestamp_fresh(format_timestamp(now - timedelta(seconds=10)), now=now, max_age_seconds=10)
    assert not is_timestamp_fresh(format_timestamp(now - timedelta(seconds=11)), now=now, max_age_seconds=10)
    assert is_timestamp_fresh(format_timestamp(now + timedelta(seconds=5)), now=now, max_future_skew_seconds=5)
    assert not is_timestamp_fresh(format_timestamp(now + timedelta(seconds=6)), now=now, max_future_skew_seconds=5)


def test_freshness_against_the_clock_and_other_zones():
    assert is_timestamp_fresh(format_timestamp())  # now, by default
    assert format_timestamp(datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-03-01T12:00:00+00:00"
    )
    ahead = (datetime.now(UTC) + timedelta(hours=2)).astimezone(timezone(timedelta(hours=2)))
    assert not is_timestamp_fresh(ahead.isoformat())
    in_paris = datetime.now(UTC).astimezone(timezone(timedelta(hours=1))).isoformat(timespec="seconds")
    assert is_timestamp_fresh(in_paris)


@pytest.mark.parametrize("value", [None, 1234, "", "2026-13-01T00:00:00Z"])
def test_unusable_timestamps_are_not_fresh(value):
    assert not is_timestamp_fresh(value)  # type: ignore[arg-type]


def test_timestamps_are_utc_whatever_the_hosts_zone(host_in_new_york):
    assert format_timestamp(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == "2026-03-01T12:00:00+00:00"
    assert format_timestamp().endswith("+00:00")
    assert is_timestamp_fresh(format_timestamp())

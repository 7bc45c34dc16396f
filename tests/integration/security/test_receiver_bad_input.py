"""Hostile and broken deliveries against both receivers: each gets its documented status, nothing
unverified is stored, nothing crashes, and no error body says anything about the system."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.integration.security.conftest import Target
from tests.integration.security.signer import body_of, envelope, signed, timestamp

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MIB = 1024 * 1024

# Words an error body must never contain: stack traces, paths, SQL, driver and library names.
LEAKS = re.compile(
    r"traceback|exception|error:|\.py\b|/work|/tmp|/usr|site-packages|select |insert |catena_events|sqlalchemy|"
    r"psycopg|sqlite|postgres|pydantic|starlette|fastapi|uvicorn|zlib|catena_airflow|line \d",
    re.IGNORECASE,
)


def assert_reveals_nothing(body: bytes, secret: str) -> None:
    text = body.decode(errors="replace")
    assert len(body) < 200, text
    assert not LEAKS.search(text), text
    assert secret not in text
    if body:
        json.loads(body)  # a short, fixed JSON document


@dataclass
class Attack:
    content: bytes | Iterator[bytes]
    headers: dict[str, str]
    event_id: str | None = None  # the event it carries, which must not be stored


def _carrying(env: dict) -> Callable[[bytes | Iterator[bytes], dict[str, str]], Attack]:
    return lambda content, headers: Attack(content, headers, env["id"])


def forged_signature(secret: str) -> Attack:
    env = envelope()
    content, headers = signed(body_of(env), secret)
    headers["X-Catena-Signature"] = base64.b64encode(os.urandom(32)).decode()
    return _carrying(env)(content, headers)


def wrong_secret(secret: str) -> Attack:
    env = envelope()
    return _carrying(env)(*signed(body_of(env), secret + "-not"))


def body_swapped_after_signing(secret: str) -> Attack:
    env, other = envelope(), envelope()
    _, headers = signed(body_of(other), secret)
    return _carrying(env)(gzip.compress(body_of(env)), headers)


def signature_as_hex(secret: str) -> Attack:
    env = envelope()
    content, headers = signed(body_of(env), secret)
    headers["X-Catena-Signature"] = base64.b64decode(headers["X-Catena-Signature"]).hex()
    return _carrying(env)(content, headers)


def stale_timestamp(secret: str) -> Attack:
    env = envelope()
    return _carrying(env)(*signed(body_of(env), secret, ts=timestamp(-301)))


def future_timestamp(secret: str) -> Attack:
    env = envelope()
    return _carrying(env)(*signed(body_of(env), secret, ts=timestamp(+301)))


def replay_outside_window(secret: str) -> Attack:
    """A genuine delivery captured an hour ago, replayed byte for byte."""
    env = envelope()
    return _carrying(env)(*signed(body_of(env), secret, ts=timestamp(-3600)))


def timestamp_moved_to_now(secret: str) -> Attack:
    """The same old capture with its timestamp header rewritten to pass the window: the signature breaks."""
    env = envelope()
    content, headers = signed(body_of(env), secret, ts=timestamp(-3600))
    headers["X-Catena-Timestamp"] = timestamp()
    return _carrying(env)(content, headers)


def naive_timestamp(secret: str) -> Attack:
    env = envelope()
    ts = timestamp().removesuffix("+00:00")
    return _carrying(env)(*signed(body_of(env), secret, ts=ts))


def garbage_timestamp(secret: str) -> Attack:
    env = envelope()
    return _carrying(env)(*signed(body_of(env), secret, ts="yesterday; DROP TABLE catena_events"))


def _without(*names: str) -> Callable[[str], Attack]:
    def attack(secret: str) -> Attack:
        env = envelope()
        content, headers = signed(body_of(env), secret)
        for name in names:
            headers.pop(name)
        return _carrying(env)(content, headers)

    attack.__name__ = "missing_" + "_and_".join(n.lower().replace("-", "_") for n in names)
    return attack


def empty_signature(secret: str) -> Attack:
    env = envelope()
    content, headers = signed(body_of(env), secret)
    headers["X-Catena-Signature"] = ""
    return _carrying(env)(content, headers)


def brotli_encoding(secret: str) -> Attack:
    env = envelope()
    content, headers = signed(body_of(env), secret)
    headers["Content-Encoding"] = "br"
    return _carrying(env)(content, headers)


def gzip_declared_plain_sent(secret: str) -> Attack:
    env = envelope()
    _, headers = signed(body_of(env), secret)
    return _carrying(env)(body_of(env), headers)


def truncated_gzip(secret: str) -> Attack:
    env = envelope()
    content, headers = signed(body_of(env), secret)
    return _carrying(env)(content[: len(content) // 2], headers)


def gzip_trailing_garbage(secret: str) -> Attack:
    env = envelope()
    content, headers = signed(body_of(env), secret)
    return _carrying(env)(content + b"\x1f\x8b garbage", headers)


def gzip_bomb(secret: str) -> Attack:
    """20 KiB on the wire, 20 MiB inflated (the limit is 16 MiB), correctly signed."""
    bomb = b'{"version":"1.0","webhook_id":"x","data":[],"pad":"' + b" " * (20 * MIB) + b'"}'
    content, headers = signed(bomb, secret)
    assert len(content) < 64 * 1024
    return Attack(content, headers)


def oversized_body(secret: str) -> Attack:
    env = envelope(data=[{"id": "x", "status": "active", "pad": "a" * (MIB + 10)}])
    return _carrying(env)(*signed(body_of(env), secret, compress=False))


def oversized_chunked_body(secret: str) -> Attack:
    """No Content-Length: the receiver must cut the stream off itself."""
    env = envelope(data=[{"id": "x", "status": "active", "pad": os.urandom(MIB).hex()}])
    content, headers = signed(body_of(env), secret)  # random hex: gzip cannot shrink it below the limit
    assert len(content) > MIB
    chunks = (content[i : i + 65536] for i in range(0, len(content), 65536))
    return _carrying(env)(chunks, headers)


def _signed_raw(name: str, raw: bytes) -> Callable[[str], Attack]:
    def attack(secret: str) -> Attack:
        return Attack(*signed(raw, secret))

    attack.__name__ = name
    return attack


invalid_json = _signed_raw("invalid_json", b'{"version": "1.0", "data": [ {"id": ')
not_utf8 = _signed_raw("not_utf8", b'{"version":"1.0","webhook_id":"\xff\xfe","data":[]}')
json_array_not_object = _signed_raw("json_array_not_object", b'[{"id": "x"}]')
json_scalar = _signed_raw("json_scalar", b"42")
envelope_without_webhook_id = _signed_raw(
    "envelope_without_webhook_id", b'{"version":"1.0","event_name":"vehicle.added","data":[{"id":"a"}]}'
)
envelope_data_not_a_list = _signed_raw(
    "envelope_data_not_a_list", b'{"version":"1.0","webhook_id":"w","data":{"id":"a"}}'
)
envelope_wrong_types = _signed_raw(
    "envelope_wrong_types", b'{"version":1,"webhook_id":["w"],"data":[{"id":"a"}],"delivery_attempt":"x"}'
)
huge_array_of_scalars = _signed_raw(
    "huge_array_of_scalars", b'{"version":"1.0","webhook_id":"w","data":[' + b"0," * 200_000 + b"0]}"
)
deeply_nested_json = _signed_raw(
    "deeply_nested_json",
    b'{"version":"1.0","webhook_id":"w","data":[{"id":"a","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}]}",
)
deeply_nested_top_level = _signed_raw("deeply_nested_top_level", b"[" * 200_000 + b"]" * 200_000)


ATTACKS: list[tuple[Callable[[str], Attack], int]] = [
    (forged_signature, 401),
    (wrong_secret, 401),
    (body_swapped_after_signing, 401),
    (signature_as_hex, 401),
    (stale_timestamp, 401),
    (future_timestamp, 401),
    (replay_outside_window, 401),
    (timestamp_moved_to_now, 401),
    (naive_timestamp, 401),
    (garbage_timestamp, 401),
    (_without("X-Catena-Signature"), 401),
    (_without("X-Catena-Timestamp"), 401),
    (_without("X-Catena-Signature", "X-Catena-Timestamp"), 401),
    (empty_signature, 401),
    (brotli_encoding, 415),
    (gzip_declared_plain_sent, 400),
    (truncated_gzip, 400),
    (gzip_trailing_garbage, 400),
    (gzip_bomb, 413),
    (oversized_body, 413),
    (oversized_chunked_body, 413),
    (invalid_json, 400),
    (not_utf8, 400),
    (json_array_not_object, 400),
    (json_scalar, 400),
    (envelope_without_webhook_id, 400),
    (envelope_data_not_a_list, 400),
    (envelope_wrong_types, 400),
    (huge_array_of_scalars, 400),
    (deeply_nested_json, 400),
    (deeply_nested_top_level, 400),
]


@pytest.mark.parametrize(("attack", "status"), ATTACKS, ids=[a.__name__ for a, _ in ATTACKS])
def test_attack_gets_its_status_and_stores_nothing(target: Target, attack, status):
    before = target.stored()
    sent = attack(target.secret)
    sent.headers["X-Webhook-ID"] = target.webhook_id  # the id whose secret this receiver holds
    answered, body = target.post(sent.content, sent.headers)
    assert answered == status, body
    assert_reveals_nothing(body, target.secret)
    after = target.stored()
    assert after == before  # nothing unverified, malformed or oversized reaches the inbox
    if sent.event_id:
        assert sent.event_id not in after
    # The receiver is still healthy: the next genuine delivery is committed.
    genuine = envelope()
    assert target.deliver(genuine)[0] == 202
    assert genuine["id"] in target.stored()


def test_replay_within_the_window_is_acknowledged_but_stored_once(target: Target):
    env = envelope()
    content, headers = signed(body_of(env), target.secret, webhook_id=target.webhook_id)
    first = target.post(content, headers)
    replayed = target.post(content, headers)  # byte for byte, same timestamp and signature
    assert first == (202, b'{"status":"accepted"}')
    assert replayed == (202, b'{"status":"duplicate"}')
    assert sorted(target.stored()).count(env["id"]) == 1


def test_unknown_event_names_are_verified_and_kept(target: Target):
    env = envelope("spaceship.launched")
    assert target.deliver(env)[0] == 202
    assert env["id"] in target.stored()


def test_a_huge_array_of_records_is_stored_once(target: Target):
    env = envelope(data=[{"id": f"v-{i}", "status": "active"} for i in range(100_000)])
    status, body = target.deliver(env)
    assert status == 202, body
    assert env["id"] in target.stored()


def test_uncompressed_signed_delivery_is_accepted(target: Target):
    env = envelope()
    content, headers = signed(body_of(env), target.secret, compress=False, webhook_id=target.webhook_id)
    assert target.post(content, headers)[0] == 202


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused_without_detail(target: Target, method):
    status, body = target.post(b"", {}, method=method)
    assert status == 405
    assert_reveals_nothing(body, target.secret)


def test_signature_must_cover_the_timestamp(target: Target):
    """HMAC of the body alone (no ``timestamp + "."``): refused, so a timestamp cannot be swapped."""
    env = envelope()
    body = body_of(env)
    body_only = base64.b64encode(hmac.new(target.secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"X-Catena-Timestamp": timestamp(), "X-Catena-Signature": body_only, "X-Webhook-ID": target.webhook_id}
    assert target.post(body, headers)[0] == 401
    assert env["id"] not in target.stored()

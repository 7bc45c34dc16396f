"""Hypothesis fuzz of the receiver app (in-process, real SQLite inbox): whatever arrives, the answer is
one of the documented statuses, never a 500 or an unhandled exception (the TestClient re-raises those),
and only a verified, well-formed envelope ever reaches the inbox."""

from __future__ import annotations

import gzip
import json
import string
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.webhooks.conftest import receiver_store
from tests.unit.webhooks.signing import SECRET, sign, timestamp

URL = "/catena/webhooks"
DOCUMENTED = {202, 400, 401, 413, 415}
FUZZ = settings(
    max_examples=150,
    deadline=2000,  # ms per example; a slow path is a finding too
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

header_text = st.text(alphabet=string.printable.strip() + " ", max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
records = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.just("1.0"), st.text(max_size=5), st.integers()),
        "event_name": st.one_of(st.sampled_from(["invitation.accepted", "vehicle.added", "x.y"]), st.text(max_size=30)),
        "data": st.one_of(st.lists(records, max_size=4), json_values),
        "webhook_id": st.one_of(st.uuids().map(str), st.text(max_size=40), st.integers()),
        "timestamp": st.one_of(st.none(), st.just(timestamp()), st.text(max_size=30)),
        "id": st.one_of(st.none(), st.uuids().map(str), st.text(max_size=40)),
        "delivery_attempt": st.one_of(st.integers(), st.text(max_size=5)),
    },
)
bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda v: json.dumps(v).encode()),
    envelopes.map(lambda e: json.dumps(e).encode()),
)


@FUZZ
@given(
    body=bodies,
    signing=st.sampled_from(["valid", "missing", "garbage", "wrong-secret"]),
    ts=st.one_of(st.just("now"), st.integers(-(10**6), 10**6), header_text),
    encoding=st.sampled_from([None, "gzip", "identity", "GZIP", "br", "deflate", "gzip, gzip"]),
    compress=st.booleans(),
    webhook_id=st.one_of(st.none(), st.uuids().map(str), header_text),
    extra=st.dictionaries(st.sampled_from(["X-Request-ID", "X-Delivery-Attempt", "Content-Type"]), header_text),
)
def test_any_request_gets_a_documented_answer(client, body, signing, ts, encoding, compress, webhook_id, extra):
    store = receiver_store(client)
    before = store.last_seq()
    stamp = timestamp() if ts == "now" else timestamp(ts) if isinstance(ts, int) else ts
    headers = dict(extra)
    if signing != "missing":
        secret = {"valid": SECRET, "wrong-secret": SECRET + "x", "garbage": None}[signing]
        headers["X-Catena-Signature"] = sign(secret, stamp, body) if secret else "bm90IGEgc2lnbmF0dXJl"
        headers["X-Catena-Timestamp"] = stamp
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    if webhook_id is not None:
        headers["X-Webhook-ID"] = webhook_id
    response = client.post(URL, content=gzip.compress(body) if compress else body, headers=headers)
    assert response.status_code in DOCUMENTED, response.text
    if response.status_code != 202:
        assert store.last_seq() == before  # refused means not stored
    else:
        assert signing == "valid"  # only a verified delivery is ever acknowledged


@FUZZ
@given(envelope=envelopes, record=records, event_name=st.text(min_size=0, max_size=40))
def test_every_signed_well_formed_envelope_is_kept(client, envelope, record, event_name):
    envelope = {
        **envelope,
        "version": "1.0",
        "event_name": event_name,
        "webhook_id": str(uuid.uuid4()),
        "id": str(uuid.uuid4()),
        "data": [record],
    }
    envelope.pop("timestamp", None)
    envelope.pop("delivery_attempt", None)
    body = json.dumps(envelope).encode()
    stamp = timestamp()
    headers = {"X-Catena-Signature": sign(SECRET, stamp, body), "X-Catena-Timestamp": stamp, "Content-Encoding": "gzip"}
    response = client.post(URL, content=gzip.compress(body), headers=headers)
    assert response.status_code == 202, response.text
    stored = receiver_store(client).get_event(envelope["id"])
    assert stored is not None and stored.event_name == event_name

"""A verified delivery as the store takes it (inbox/incoming.py): identity, fields, redaction, its row."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

from catena_airflow.inbox.incoming import IncomingEvent, event_row, field_of, str_or_none

RECEIVED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def envelope(**fields) -> dict:
    return {
        "id": "evt-1",
        "event_name": "invitation.created",
        "webhook_id": "wh-1",
        "timestamp": "2026-03-01T12:00:00Z",
        "delivery_attempt": 2,
        "data": [{"id": "inv-1", "fleet_id": "fleet-1", "fleet_ref": "ref-1"}],
        **fields,
    }


def incoming(env: dict, **kwargs) -> IncomingEvent:
    return IncomingEvent.from_envelope(env, json.dumps(env), received_at=RECEIVED, **kwargs)


def test_every_envelope_field_is_taken_from_a_dict():
    env = envelope()
    item = IncomingEvent.from_envelope(env, json.dumps(env).encode(), received_at=RECEIVED, request_id="req-9")
    assert item == IncomingEvent(
        event_id="evt-1",
        event_name="invitation.created",
        webhook_id="wh-1",
        event_timestamp=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        delivery_attempt=2,
        data=[{"id": "inv-1", "fleet_id": "fleet-1", "fleet_ref": "ref-1"}],
        body=json.dumps(env),
        received_at=RECEIVED,
        request_id="req-9",
    )


def test_an_object_with_the_fields_is_read_like_a_dict():
    # The client's WebhookEnvelope is a model with attributes; a non-string webhook id becomes a string.
    model = SimpleNamespace(**{**envelope(webhook_id=42), "data": ({"id": "inv-1"},)})
    item = IncomingEvent.from_envelope(model, "{}", received_at=RECEIVED)
    assert (item.event_id, item.event_name, item.webhook_id, item.delivery_attempt) == (
        "evt-1",
        "invitation.created",
        "42",
        2,
    )
    assert item.data == [{"id": "inv-1"}] and item.body == "{}"
    assert field_of(model, "no_such_field") is None and field_of({"a": 1}, "b") is None


def test_missing_fields_get_empty_values_and_the_receipt_time_defaults_to_now():
    body = '{"id": null}'
    before = datetime.now(UTC)
    item = IncomingEvent.from_envelope({"id": None}, body)
    assert item.event_id == "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    assert (item.event_name, item.webhook_id, item.event_timestamp, item.delivery_attempt, item.data) == (
        "",
        None,
        None,
        None,
        [],
    )
    assert item.request_id is None
    assert before <= item.received_at <= datetime.now(UTC) and item.received_at.tzinfo is UTC


def test_an_empty_id_is_replaced_by_the_body_hash_so_redeliveries_stay_one_event():
    env = envelope(id="")
    first, again = incoming(env), incoming(env)
    assert first.event_id == again.event_id == "sha256:" + hashlib.sha256(json.dumps(env).encode()).hexdigest()
    assert incoming(envelope(id="", delivery_attempt=3)).event_id != first.event_id


def test_an_id_longer_than_200_characters_is_hashed_and_one_of_200_is_kept():
    kept = "k" * 200
    assert incoming(envelope(id=kept)).event_id == kept
    long = "x" * 201
    assert incoming(envelope(id=long)).event_id == "sha256:" + hashlib.sha256(long.encode()).hexdigest()


def test_times_are_taken_as_utc():
    local = timezone(timedelta(hours=2))
    item = IncomingEvent.from_envelope(
        envelope(timestamp="2026-03-01T14:00:00+02:00"), "{}", received_at=datetime(2026, 3, 1, 14, 30, tzinfo=local)
    )
    assert item.event_timestamp == datetime(2026, 3, 1, 12, 0, tzinfo=UTC) and item.event_timestamp.tzinfo is UTC
    assert item.received_at == RECEIVED and item.received_at.tzinfo is UTC


def test_records_carry_the_event_timestamp_or_else_the_receipt_time():
    data = [{"id": "inv-1"}, "not a record", {"id": "inv-2"}]
    records = incoming(envelope(data=data)).records()
    assert [(r.event_id, r.index, r.event_name, r.record, r.at) for r in records] == [
        ("evt-1", 0, "invitation.created", {"id": "inv-1"}, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("evt-1", 2, "invitation.created", {"id": "inv-2"}, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
    ]
    assert [r.at for r in incoming(envelope(timestamp=None)).records()] == [RECEIVED]


def test_the_event_row_is_keyed_by_the_first_records_fleet_and_not_yet_correlated():
    item = incoming(envelope(), request_id="req-1")
    assert event_row(item) == {
        "event_id": "evt-1",
        "event_name": "invitation.created",
        "webhook_id": "wh-1",
        "request_id": "req-1",
        "received_at": RECEIVED,
        "event_timestamp": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "fleet_id": "fleet-1",
        "fleet_ref": "ref-1",
        "invitation_id": None,
        "connection_id": None,
        "held": False,
        "delivery_attempt": 2,
        "payload": item.body,
    }
    numeric = event_row(incoming(envelope(data=[{"fleet_id": 7, "fleet_ref": 8}])))
    assert (numeric["fleet_id"], numeric["fleet_ref"]) == ("7", "8")
    for data in ([], ["not a record", {"fleet_id": "fleet-2"}], [{}]):
        row = event_row(incoming(envelope(data=data)))
        assert (row["fleet_id"], row["fleet_ref"]) == (None, None)


def test_str_or_none_keeps_none_and_stringifies_the_rest():
    assert (str_or_none(None), str_or_none(0), str_or_none("")) == (None, "0", "")


def test_pre_registration_tokens_are_masked_and_the_rest_of_the_body_kept():
    env = envelope(
        data=[
            {"id": "inv-1", "pre_registration_access_token": "acc", "pre_registration_refresh_token": "ref"},
            {"id": "inv-2", "pre_registration_access_token": None, "name": "Café"},
            "not a record",
        ]
    )
    stored = json.loads(incoming(env).body)
    assert stored["data"][0] == {
        "id": "inv-1",
        "pre_registration_access_token": "**********",
        "pre_registration_refresh_token": "**********",
    }
    assert stored["data"][1:] == env["data"][1:]  # a null token is left null
    assert {k: v for k, v in stored.items() if k != "data"} == {k: v for k, v in env.items() if k != "data"}
    # Written compactly, non-ASCII as is.
    assert '"name":"Café"' in incoming(env).body


def test_a_body_without_tokens_is_stored_byte_for_byte():
    for body in (
        '{"id": "evt-1",  "data": [{"id": "inv-1"}]}',  # no token field: not even parsed
        '{"id": "evt-1", "data": [{"pre_registration_access_token": null}]}',  # nothing to mask
        '{"id": "evt-1", "note": "pre_registration_ mentioned, not a field"}',
        "pre_registration_ but not JSON",
        '["pre_registration_access_token"]',
        '{"data": null, "pre_registration_access_token": "top-level is not a record"}',
    ):
        assert IncomingEvent.from_envelope({"id": "evt-1"}, body, received_at=RECEIVED).body == body

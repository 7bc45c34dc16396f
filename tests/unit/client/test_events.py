from __future__ import annotations

import pytest
from pydantic import ValidationError

from catena_airflow.client import events
from catena_airflow.client.events import (
    ConnectionEventRecord,
    EventRecord,
    ExecutionEventRecord,
    FleetConnectionEventRecord,
    InvitationEventRecord,
    ScheduleEventRecord,
    ShareAgreementEventRecord,
    WebhookEnvelope,
    WebhookEventRecord,
    record_model_for,
    wildcard_for,
)
from catena_airflow.client.models import ConnectionStatus, InvitationStatus
from tests.unit.client import payloads

VECTORS = payloads.WEBHOOK_VECTORS


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_reference_bodies_parse_into_typed_records(vector):
    envelope = WebhookEnvelope.model_validate_json(vector["uncompressed_body"])
    records = envelope.records()
    assert len(records) == 1
    assert isinstance(records[0], record_model_for(envelope.event_name))
    assert records[0].id == envelope.data[0]["id"]


def test_fleet_connection_envelope_fields():
    envelope = WebhookEnvelope.model_validate_json(VECTORS[0]["uncompressed_body"])
    assert envelope.event_name == events.FLEET_CONNECTION_CREATED
    assert envelope.version == "1.0"
    assert envelope.delivery_attempt == 1
    assert envelope.id == "019d0000-0000-7000-8000-0000000000aa"
    assert envelope.timestamp.isoformat() == "2026-03-01T12:00:05.123456+00:00"
    (record,) = envelope.records()
    assert isinstance(record, FleetConnectionEventRecord)
    assert (record.fleet_id, record.connection_id) == (
        "019d0000-0000-7000-8000-0000000000f1",
        "019d0000-0000-7000-8000-0000000000c1",
    )


def test_declined_record_keeps_reason_with_non_ascii():
    (record,) = WebhookEnvelope.model_validate_json(VECTORS[1]["uncompressed_body"]).records()
    assert isinstance(record, InvitationEventRecord)
    assert record.status is InvitationStatus.DECLINED
    assert record.decline_reason == "Not ready yet \u2014 try Q3"


@pytest.mark.parametrize(
    ("event_name", "record", "model"),
    [
        ("invitation.accepted", payloads.accepted_invitation(), InvitationEventRecord),
        ("invitation.rejected", {"id": "i", "status": "declined"}, InvitationEventRecord),
        ("share_agreement.created", payloads.share_agreement(), ShareAgreementEventRecord),
        (
            "connection.staled",
            {"id": "c", "source_name": "samsara", "fleet_id": "f", "tsp_id": "t", "status": "stale"},
            ConnectionEventRecord,
        ),
        ("execution.failed", payloads.execution(status="failed"), ExecutionEventRecord),
        ("schedule.deactivated", payloads.schedule(status="inactive"), ScheduleEventRecord),
        (
            "webhook.staled",
            {"id": "w", "url": "https://x/*****", "event_name": "invitation.*", "status": "stale"},
            WebhookEventRecord,
        ),
        ("vehicle.added", payloads.vehicle(), EventRecord),
    ],
)
def test_each_family_gets_its_record_model(event_name, record, model):
    envelope = WebhookEnvelope.model_validate(payloads.envelope(event_name, [record]))
    (parsed,) = envelope.records()
    assert type(parsed) is model
    assert parsed.to_wire()["id"] == record["id"]


def test_batched_records_and_unknown_fields_are_kept():
    body = payloads.envelope(
        "connection.created",
        [
            {"id": "c1", "status": "active", "fleet_id": "f", "tsp_id": "t", "source_name": "geotab", "new": 1},
            {"id": "c2", "status": "brand_new_state", "fleet_id": "f", "tsp_id": "t", "source_name": "geotab"},
        ],
        future_field={"x": 1},
    )
    envelope = WebhookEnvelope.model_validate(body)
    first, second = envelope.records()
    assert first.status is ConnectionStatus.ACTIVE
    assert first.model_extra == {"new": 1}
    assert second.status == "brand_new_state" and not second.status.is_known
    assert envelope.to_wire()["future_field"] == {"x": 1}


@pytest.mark.parametrize(
    "mutation",
    [
        {"version": ""},
        {"data": {"id": "not-a-list"}},
        {"webhook_id": None},
        {"delivery_attempt": "first"},
    ],
)
def test_malformed_envelopes_are_rejected(mutation):
    body = payloads.envelope("invitation.created", [{"id": "i", "status": "active"}], **mutation)
    with pytest.raises(ValidationError):
        WebhookEnvelope.model_validate(body)


def test_record_missing_its_identifiers_is_rejected():
    envelope = WebhookEnvelope.model_validate(payloads.envelope("fleet_connection.created", [{"id": "x"}]))
    with pytest.raises(ValidationError, match="connection_id"):
        envelope.records()


def test_envelope_defaults_when_optional_fields_absent():
    envelope = WebhookEnvelope.model_validate({"version": "3.0", "data": [], "webhook_id": "w"})
    assert (envelope.event_name, envelope.id, envelope.timestamp, envelope.delivery_attempt) == ("", None, None, 0)


def test_event_secrets_are_masked_in_repr():
    body = payloads.envelope("invitation.accepted", [payloads.accepted_invitation()])
    (record,) = WebhookEnvelope.model_validate(body).records()
    assert payloads.PRE_REGISTRATION_ACCESS not in repr(record)
    assert payloads.PRE_REGISTRATION_ACCESS not in str(record.model_dump())
    assert record.to_wire()["pre_registration_access_token"] == payloads.PRE_REGISTRATION_ACCESS


def test_constants_and_wildcards():
    assert events.FLEET_CONNECTION_CREATED == "fleet_connection.created"
    assert wildcard_for(events.INVITATION_DECLINED) == events.INVITATION_WILDCARD == "invitation.*"
    assert {wildcard_for(name) for name in events.ONBOARDING_EVENTS} == set(events.ONBOARDING_WILDCARDS)
    assert set(events.OPERATIONAL_EVENTS) == {"connection.staled", "execution.failed", "schedule.deactivated"}

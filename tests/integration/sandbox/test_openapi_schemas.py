"""The contract tests' validators are strict: no field a schema does not define, save the allowance list."""

from __future__ import annotations

import copy

import pytest

from tests.integration.sandbox.openapi_schemas import ALLOWED_EXTRA_FIELDS, spec

SHARE_AGREEMENT = {
    "id": "019d0000-0000-7000-8000-0000000000a1",
    "fleet_id": "019d0000-0000-7000-8000-0000000000f1",
    "partner_id": "019d0000-0000-7000-8000-0000000000b1",
    "fleet_ref": None,
    "status": "active",
    "effective_date": "2026-03-01T12:00:00.000000Z",
    "expiration_date": None,
    "scopes": {"vehicle": "read_write"},
}
ENVELOPE = {
    "version": "1.0",
    "event_name": "share_agreement.created",
    "webhook_id": "019d0000-0000-7000-8000-0000000000c1",
    "timestamp": "2026-03-01T12:00:00.000000Z",
    "id": "019d0000-0000-7000-8000-0000000000d1",
    "delivery_attempt": 1,
    "data": [{**SHARE_AGREEMENT, "scopes": {"vehicle": "read_write", "message": None}}],
}


def rest_errors(body: dict) -> list[str]:
    return spec("orgs").errors({"$ref": "#/components/schemas/ShareAgreementRead"}, body)


def event_errors(envelope: dict) -> list[str]:
    return spec("notifications").errors({"$ref": "#/components/schemas/ShareAgreementCreated"}, envelope)


def test_spec_shaped_bodies_pass() -> None:
    assert rest_errors(SHARE_AGREEMENT) == []
    assert event_errors(ENVELOPE) == []


@pytest.mark.parametrize("field", ["extra", "invitation"])
def test_an_undefined_field_fails_at_the_top_and_nested(field: str) -> None:
    assert rest_errors({**SHARE_AGREEMENT, field: "x"}) != []
    assert event_errors({**ENVELOPE, field: "x"}) != []  # the envelope
    nested = copy.deepcopy(ENVELOPE)
    nested["data"][0][field] = "x"  # a record inside it
    assert event_errors(nested) != []


def test_a_response_schema_of_a_path_is_strict_too() -> None:
    document = spec("notifications")
    schema = document.response_schema("GET", "/v2/notifications/webhooks/{webhook_id}", 200)
    read = {
        "id": "019d0000-0000-7000-8000-0000000000c1",
        "url": "https://partner.example.com/*****",
        "event_name": "invitation.created",
        "filters": None,
        "secret": "*****",
        "status": "active",
        "created_at": "2026-03-01T12:00:00.000000Z",
        "updated_at": "2026-03-01T12:00:00.000000Z",
    }
    assert document.errors(schema, read) == []
    assert document.errors(schema, {**read, "partner_id": "019d0000-0000-7000-8000-0000000000b1"}) != []
    assert document.errors(schema, {**read, "filters": {"fleet_refs": ["A"], "fleet_names": ["x"]}}) != []


def test_the_allowance_list_admits_invitation_id_on_share_agreements_only() -> None:
    invitation_id = "019d0000-0000-7000-8000-0000000000e1"
    assert rest_errors({**SHARE_AGREEMENT, "invitation_id": invitation_id}) == []
    assert rest_errors({**SHARE_AGREEMENT, "invitation_id": None}) == []
    with_id = copy.deepcopy(ENVELOPE)
    with_id["data"][0]["invitation_id"] = invitation_id
    assert event_errors(with_id) == []
    connection_event = {
        **ENVELOPE,
        "event_name": "connection.created",
        "data": [
            {
                "id": "019d0000-0000-7000-8000-0000000000a2",
                "source_name": "samsara",
                "fleet_id": SHARE_AGREEMENT["fleet_id"],
                "tsp_id": "019d0000-0000-7000-8000-0000000000a3",
                "status": "active",
                "invitation_id": invitation_id,
            }
        ],
    }
    document = spec("notifications")
    assert document.errors({"$ref": "#/components/schemas/ConnectionCreated"}, connection_event) != []


def test_every_allowed_extra_field_is_undefined_and_shown_in_a_share_agreement_example() -> None:
    """The allowance list may only hold fields the newest spec drops but still shows in an example."""
    example = spec("orgs").raw_schemas["ShareAgreementRead"]["example"]
    for (spec_name, schema_name), fields in ALLOWED_EXTRA_FIELDS.items():
        raw = spec(spec_name).raw_schemas[schema_name]
        for field in fields:
            assert field not in raw.get("properties", {}), f"{schema_name}.{field} is defined now: drop the allowance"
            assert field in example, f"{field} is in no example"

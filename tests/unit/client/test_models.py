from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from catena_airflow.client.models import (
    Connection,
    Execution,
    Fleet,
    Invitation,
    InvitationCreate,
    InvitationStatus,
    Page,
    Schedule,
    ShareAgreement,
    ShareLevel,
    Token,
    Vehicle,
    VehicleLocation,
    WebhookCreate,
    WebhookLog,
    WebhookMetrics,
    WebhookSubscription,
    WebhookUpdate,
)
from tests.unit.client import payloads

ROUND_TRIPS = [
    (Invitation, payloads.invitation()),
    (Invitation, payloads.accepted_invitation()),
    (ShareAgreement, payloads.share_agreement()),
    (Fleet, payloads.fleet()),
    (Connection, payloads.connection()),
    (Schedule, payloads.schedule()),
    (Execution, payloads.execution()),
    (WebhookSubscription, payloads.webhook()),
    (WebhookSubscription, payloads.webhook(secret="wX9kLmP2nQrT4vYz", partner_id=payloads.PARTNER_ID, deleted_at=None)),
    (WebhookLog, payloads.webhook_log()),
    (WebhookMetrics, payloads.webhook_metrics()),
    (Vehicle, payloads.vehicle()),
    (VehicleLocation, payloads.vehicle_location()),
]


def _same_instant_or_equal(left, right):
    """Datetimes come back normalised (``+00:00`` -> ``Z``); compare them as instants."""
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same_instant_or_equal(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same_instant_or_equal, left, right))
    if isinstance(left, str) and isinstance(right, str) and left != right:
        try:
            return datetime.fromisoformat(left) == datetime.fromisoformat(right)
        except ValueError:
            return False
    return left == right


@pytest.mark.parametrize(
    ("model", "payload"), ROUND_TRIPS, ids=[f"{m.__name__}-{i}" for i, (m, _) in enumerate(ROUND_TRIPS)]
)
def test_round_trip_keeps_every_field(model, payload):
    parsed = model.model_validate(payload)
    assert _same_instant_or_equal(parsed.to_wire(exclude_unset=True), payload)
    assert model.model_validate(parsed.to_wire()) == parsed


@pytest.mark.parametrize(("model", "payload"), ROUND_TRIPS[:8], ids=[m.__name__ for m, _ in ROUND_TRIPS[:8]])
def test_unknown_fields_are_kept(model, payload):
    parsed = model.model_validate({**payload, "added_in_2027": {"nested": [1, 2]}})
    assert parsed.model_extra["added_in_2027"] == {"nested": [1, 2]}
    assert parsed.to_wire()["added_in_2027"] == {"nested": [1, 2]}


def test_unknown_and_uppercase_statuses_are_tolerated():
    assert Invitation.model_validate(payloads.invitation(status="ACCEPTED")).status is InvitationStatus.ACCEPTED
    odd = Invitation.model_validate(payloads.invitation(status="on_hold"))
    assert odd.status == "on_hold" and not odd.status.is_known
    assert odd.to_wire()["status"] == "on_hold"


def test_page_of_invitations_with_observed_empty_page():
    empty = Page[Invitation].model_validate(
        {
            "items": [],
            "total": 0,
            "current_page": "Pg%3D%3D",
            "current_page_backwards": "PA%3D%3D",
            "previous_page": None,
            "next_page": None,
        }
    )
    assert (empty.items, empty.total, empty.next_page) == ([], 0, None)
    full = Page[Invitation].model_validate(payloads.page([payloads.invitation()], next_page="abc"))
    assert isinstance(full.items[0], Invitation) and full.total is None and full.next_page == "abc"


def test_webhook_metrics_windows_use_wire_keys():
    metrics = WebhookMetrics.model_validate(payloads.webhook_metrics())
    assert metrics.http_attempts.last_6h == 105 and metrics.http_attempts.last_14d == 6500
    assert metrics.success_rate.last_14d is None
    assert metrics.to_wire()["http_attempts"] == {"6h": 105, "24h": 420, "7d": 3000, "14d": 6500}


def test_vehicle_location_point():
    location = VehicleLocation.model_validate(payloads.vehicle_location())
    assert location.longitude_latitude == (-122.4194, 37.7749)
    assert VehicleLocation.model_validate(payloads.vehicle_location(location=None)).longitude_latitude is None


def test_webhook_secret_masked_state():
    assert WebhookSubscription.model_validate(payloads.webhook()).secret_is_masked
    assert not WebhookSubscription.model_validate(payloads.webhook(secret="wX9kLmP2nQrT4vYz")).secret_is_masked


# --------------------------------------------------------------------------- secrets


SECRET_BEARERS = [
    (
        Token,
        {"access_token": "eyJ.access.secret", "expires_in": 3600, "refresh_token": "eyJ.refresh.secret"},
        "access_token",
    ),
    (Invitation, payloads.accepted_invitation(), "pre_registration_access_token"),
    (WebhookSubscription, payloads.webhook(secret="clear-secret-xyz"), "secret"),
    (
        WebhookCreate,
        {"url": "https://p.example/hook", "event_name": "invitation.*", "secret": "clear-secret-xyz"},
        "secret",
    ),
    (WebhookUpdate, {"secret": "clear-secret-xyz"}, "secret"),
]


@pytest.mark.parametrize(("model", "payload", "field"), SECRET_BEARERS, ids=[m.__name__ for m, _, _ in SECRET_BEARERS])
def test_secrets_never_in_repr_str_or_plain_dumps(model, payload, field):
    secret = payload[field]
    parsed = model.model_validate(payload)
    for text in (repr(parsed), str(parsed), str(parsed.model_dump()), parsed.model_dump_json()):
        assert secret not in text
    assert parsed.to_wire()[field] == secret


@pytest.mark.parametrize(("model", "payload", "field"), SECRET_BEARERS, ids=[m.__name__ for m, _, _ in SECRET_BEARERS])
def test_secrets_never_in_validation_errors(model, payload, field):
    secret = payload[field]
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**payload, field: secret, "url": 12345, "expires_in": "soon", "status": 7})
    assert secret not in str(caught.value)


# --------------------------------------------------------------------------- InvitationCreate


def test_invitation_create_sends_only_what_was_set():
    body = InvitationCreate(fleet_ref="FLEET-42", fleet_name="Acme Freight", expires_in_hours=72).to_request_body()
    assert body == {"fleet_ref": "FLEET-42", "fleet_name": "Acme Freight", "expires_in_hours": 72}


def test_invitation_create_all_fields():
    create = InvitationCreate(
        fleet_ref="fleet_42 west",
        fleet_name="Acme Freight 2",
        fleet_email="ops@acme.example",
        fleet_regulatory_id="1234567",
        fleet_regulatory_id_type="DOT",
        fleet_phone="+1 555 0100",
        fleet_website="https://acme.example",
        fleet_country_code="usa",
        success_redirect_url="https://partner.example/ok",
        failure_redirect_url="http://localhost:8080/failed",
        callback_url="https://partner.example/callback",
        limit_tsps=["samsara"],
        permissions={"vehicle": "read"},
        expires_in_hours=672,
    )
    body = create.to_request_body()
    assert body["fleet_country_code"] == "USA"
    assert body["permissions"] == {"vehicle": ShareLevel.READ}
    assert len(body) == 14


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fleet_ref": "FLEET/42"}, "fleet_ref may contain only"),
        ({"fleet_ref": "   "}, "must not be empty"),
        ({"fleet_ref": ""}, "must not be empty"),
        ({"fleet_ref": "F", "fleet_name": "Acme & Sons"}, "fleet_name may contain only"),
        ({"fleet_ref": "F", "fleet_country_code": "US"}, "three letters"),
        ({"fleet_ref": "F", "fleet_country_code": "U_S"}, "three letters"),
        ({"fleet_ref": "F", "expires_in_hours": 0}, "greater than or equal to 1"),
        ({"fleet_ref": "F", "expires_in_hours": 673}, "less than or equal to 672"),
        ({"fleet_ref": "F", "fleet_email": "not-an-email"}, "email"),
        ({"fleet_ref": "F", "success_redirect_url": "partner.example/ok"}, "absolute http"),
        ({"fleet_ref": "F", "callback_url": "https://p.example/" + "x" * 2083}, "2083"),
        ({"fleet_ref": "F", "fleet_regulatory_id": "123"}, "fleet_regulatory_id_type is required"),
        ({"fleet_ref": "F", "permissions": {"vehicle": 5}}, "permissions"),
    ],
)
def test_invitation_create_rejects_bad_input_clearly(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        InvitationCreate(**kwargs)


_ALLOWED_REF_CHARS = st.sampled_from("abcXYZ019 -_éß")


@given(st.text(_ALLOWED_REF_CHARS, min_size=1, max_size=40).filter(str.strip))
def test_fleet_ref_accepts_letters_digits_spaces_dash_underscore(ref):
    assert InvitationCreate(fleet_ref=ref).fleet_ref == ref


@given(
    st.text(_ALLOWED_REF_CHARS, max_size=10),
    st.characters(exclude_categories=("L", "N", "Zs"), exclude_characters="-_"),
    st.text(_ALLOWED_REF_CHARS, max_size=10),
)
def test_fleet_ref_rejects_any_other_character(prefix, bad, suffix):
    with pytest.raises(ValidationError):
        InvitationCreate(fleet_ref=prefix + bad + suffix)


@given(st.integers())
def test_expires_in_hours_range(hours):
    if 1 <= hours <= 672:
        assert InvitationCreate(fleet_ref="F", expires_in_hours=hours).expires_in_hours == hours
    else:
        with pytest.raises(ValidationError):
            InvitationCreate(fleet_ref="F", expires_in_hours=hours)


def test_webhook_update_secret_minimum_length():
    with pytest.raises(ValidationError, match="12"):
        WebhookUpdate(secret="short")
    assert WebhookUpdate(secret="twelve-chars").to_request_body() == {"secret": "twelve-chars"}

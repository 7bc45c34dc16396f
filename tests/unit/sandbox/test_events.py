from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from catena_sandbox.events import (
    CONCRETE_EVENTS,
    About,
    expand_event_name,
    matches_filters,
    normalise_filters,
    share_agreement_record,
)
from catena_sandbox.state import UNSHARED_RESOURCES, ShareAgreement
from catena_sandbox.variations import Variations

SPEC = Path(__file__).resolve().parents[2] / "data" / "catena-openapi" / "notifications.yaml"


@pytest.fixture(scope="module")
def schemas() -> dict:
    return yaml.load(SPEC.read_text(), Loader=yaml.CSafeLoader)["components"]["schemas"]


def test_every_event_name_of_the_spec_is_accepted(schemas: dict) -> None:
    names = set(schemas["WebhookEventNameEnum"]["enum"]) | set(schemas["WebhookCatchAllEvents"]["enum"])
    refused = sorted(name for name in names if expand_event_name(name) is None)
    assert refused == []


def test_catch_alls_expand_to_concrete_events_of_their_family() -> None:
    assert expand_event_name("connection.*") == ["connection.created", "connection.staled"]
    assert expand_event_name("schedule.*") == ["schedule.deactivated"]
    for name in expand_event_name("invitation.*") or []:
        assert name in CONCRETE_EVENTS and name.startswith("invitation.")
    assert "invitation.rejected" not in (expand_event_name("invitation.*") or [])
    assert expand_event_name("nothing.*") is None and expand_event_name("vehicle.exploded") is None


@pytest.mark.parametrize(
    ("filters", "record", "expected"),
    [
        (None, {}, True),
        ({"fleet_ids": ["f1"]}, {"fleet_id": "f1"}, True),
        ({"fleet_ids": ["f1"]}, {"fleet_id": "f2"}, False),
        ({"fleet_ids": ["f1"]}, {"fleet_ref": "r1"}, False),
        ({"fleet_refs": ["r1"]}, {"fleet_ref": "r1", "fleet_id": None}, True),
        ({"fleet_ids": ["f1"], "fleet_refs": ["r1"]}, {"fleet_id": "f9", "fleet_ref": "r1"}, True),
        ({"fleet_ids": ["f1"], "fleet_refs": ["r1"]}, {"fleet_id": "f9", "fleet_ref": "r9"}, False),
        ({"fleet_ids": ["f1"], "fleet_refs": ["r1"]}, {}, False),
    ],
)
def test_filters_or_across_lists(filters: dict | None, record: dict, expected: bool) -> None:
    assert matches_filters(normalise_filters(filters), About.of(record)) is expected


def test_filters_match_the_fleet_the_event_is_about_not_the_record() -> None:
    """Catena knows an event's fleet: a connection record has no fleet_ref, a varied invitation shows null."""
    filters = normalise_filters({"fleet_refs": ["ACME-1"]})
    assert matches_filters(filters, About("ACME-1", "f1"))
    assert not matches_filters(filters, About("ACME-2", "f1"))
    assert not matches_filters(filters, About.of({"fleet_ref": None, "fleet_id": "f1"}))
    by_id = normalise_filters({"fleet_ids": ["f1"]})
    assert matches_filters(by_id, About(None, "f1")) and not matches_filters(by_id, About("ACME-1", None))


def test_about_a_record_takes_its_own_fleet_fields() -> None:
    assert About.of({"fleet_ref": "R", "fleet_id": 7}) == About("R", "7")
    assert About.of({"fleet_ref": 5}) == About(None, None)  # synthetic data may carry anything


def test_empty_filters_mean_no_filter_and_are_normalised() -> None:
    assert normalise_filters({"fleet_ids": [], "fleet_refs": None}) is None
    assert normalise_filters({"fleet_refs": ["b", "a"]}) == {"fleet_ids": None, "fleet_refs": ["a", "b"]}


def agreement(**scopes: str | None) -> ShareAgreement:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return ShareAgreement(
        id="a1",
        fleet_id="f1",
        partner_id="p1",
        fleet_ref=None,
        sandbox_fleet_ref="ACME-1",
        invitation_id="i1",
        status="active",
        effective_date=now,
        expiration_date=None,
        scopes=scopes or {"vehicle": "read_write"},
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize(("shown", "expected"), [("absent", "-"), ("present", "i1"), ("null", None)])
def test_share_agreement_invitation_id_in_rest_and_events(shown: str, expected: str | None) -> None:
    variations = Variations({"share_agreement_invitation_id": shown})
    for event in (True, False):
        assert share_agreement_record(agreement(), variations, event=event).get("invitation_id", "-") == expected


def test_null_scope_levels_only_in_events() -> None:
    nulls = Variations({"share_agreement_event_scopes": "with_nulls"})
    event = share_agreement_record(agreement(), nulls, event=True)["scopes"]
    assert event["vehicle"] == "read_write" and {name for name, level in event.items() if level is None} == set(
        UNSHARED_RESOURCES
    )
    assert share_agreement_record(agreement(), nulls, event=False)["scopes"] == {"vehicle": "read_write"}
    levels = Variations({"share_agreement_event_scopes": "levels"})
    assert share_agreement_record(agreement(), levels, event=True)["scopes"] == {"vehicle": "read_write"}
    # A null level the sandbox ever held would reach events only; REST keeps ShareLevelEnum values.
    assert share_agreement_record(agreement(vehicle="read", user=None), levels, event=False)["scopes"] == {
        "vehicle": "read"
    }

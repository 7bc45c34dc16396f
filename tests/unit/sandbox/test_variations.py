from __future__ import annotations

import pytest

from catena_sandbox.variations import KNOBS, VARY, Variations, parse, pick

REFS = [f"FLEET-{n}" for n in range(40)]


def test_every_knob_varies_by_default_and_meets_each_value_over_several_fleets() -> None:
    variations = Variations()
    assert variations.settings == dict.fromkeys(KNOBS, VARY)
    for knob, spec in KNOBS.items():
        assert {variations.choose(knob, ref) for ref in REFS} == set(spec.values), knob


def test_a_fleet_always_meets_the_same_case() -> None:
    first, second = Variations(), Variations()  # e.g. two sandbox processes, or two runs
    for ref in REFS:
        assert first.resolved(ref) == second.resolved(ref)
    assert {pick("event_id_across_subscriptions", None)} == {pick("event_id_across_subscriptions", "")}


def test_knobs_are_independent_of_each_other() -> None:
    """Not one hash for all knobs: some fleet gets an invitation_id but a null fleet_ref, another the reverse."""
    pairs = {(pick("share_agreement_invitation_id", ref), pick("share_agreement_fleet_ref", ref)) for ref in REFS}
    assert len(pairs) == len(KNOBS["share_agreement_invitation_id"].values) * 2


def test_pin_restore_and_clear() -> None:
    variations = Variations({"connection_fleet_ref": "null"})
    assert {variations.choose("connection_fleet_ref", ref) for ref in REFS} == {"null"}
    variations.update({"connection_fleet_ref": VARY, "share_agreement_invitation_id": "present"})
    assert {variations.choose("connection_fleet_ref", ref) for ref in REFS} == {"set", "null"}
    assert variations.resolved("X")["share_agreement_invitation_id"] == "present"
    assert variations.restore()["connection_fleet_ref"] == "null"
    assert variations.clear() == dict.fromkeys(KNOBS, VARY)


@pytest.mark.parametrize(
    "changes", [{"no_such_knob": "set"}, {"connection_fleet_ref": "maybe"}, {"share_agreement_fleet_ref": "absent"}]
)
def test_unknown_knobs_and_values_are_refused(changes: dict) -> None:
    variations = Variations()
    with pytest.raises(ValueError):
        variations.update(changes)
    assert variations.settings == dict.fromkeys(KNOBS, VARY)
    with pytest.raises(ValueError):
        Variations(changes)


def test_parse_the_environment_form() -> None:
    assert parse("") == {}
    assert parse("connection_fleet_ref=null, share_agreement_invitation_id=vary") == {
        "connection_fleet_ref": "null",
        "share_agreement_invitation_id": "vary",
    }
    with pytest.raises(ValueError):
        parse("connection_fleet_ref")

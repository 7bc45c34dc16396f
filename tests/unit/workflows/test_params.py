"""The onboarding DAGs' params, validated the way Airflow validates a run's conf (without loading the DAGs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk.definitions.param import Param, ParamsDict
from airflow.sdk.exceptions import ParamValidationError

from catena_airflow.workflows.params import bulk_onboarding_params, fleet_requests, onboarding_params, wait_params


def resolved(params: Callable[[], dict[str, Param]], conf: dict[str, Any]) -> dict[str, Any]:
    """The params a run gets from ``conf``; ParamValidationError names the field that is refused."""
    merged = ParamsDict(params())
    merged.update(conf)
    return merged.validate()


def test_onboarding_defaults():
    assert resolved(onboarding_params, {"fleet_ref": "acme-1"}) == {
        "fleet_ref": "acme-1",
        "fleet_name": None,
        "fleet_email": None,
        "success_redirect_url": None,
        "failure_redirect_url": None,
        "callback_url": None,
        "limit_tsps": None,
        "permissions": None,
        "expires_in_hours": 24,
        "poll_interval": 1.0,
        "reconcile_interval": 300,
        "reinvite_on_expiry": False,
    }


def test_onboarding_bounds_are_inclusive():
    good = {"fleet_ref": "x" * 255, "fleet_name": "n" * 255, "expires_in_hours": 672, "poll_interval": 0.1}
    assert resolved(onboarding_params, {**good, "reconcile_interval": 1})["expires_in_hours"] == 672
    assert resolved(onboarding_params, {"fleet_ref": "a", "expires_in_hours": 1})["expires_in_hours"] == 1


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"fleet_ref": ""}, "fleet_ref"),
        ({"fleet_ref": "bad/ref!"}, "fleet_ref"),
        ({"fleet_ref": 42}, "fleet_ref"),
        ({"fleet_ref": "a", "success_redirect_url": "javascript:alert(1)"}, "success_redirect_url"),
        ({"fleet_ref": "a", "failure_redirect_url": "not a url"}, "failure_redirect_url"),
        ({"fleet_ref": "x" * 256}, "fleet_ref"),
        ({"fleet_ref": "a", "fleet_name": "n" * 256}, "fleet_name"),
        ({"fleet_ref": "a", "fleet_name": 7}, "fleet_name"),
        ({"fleet_ref": "a", "fleet_email": 7}, "fleet_email"),
        ({"fleet_ref": "a", "callback_url": "https://x/" + "p" * 2074}, "callback_url"),
        ({"fleet_ref": "a", "limit_tsps": ["samsara", "samsara"]}, "limit_tsps"),
        ({"fleet_ref": "a", "limit_tsps": [""]}, "limit_tsps"),
        ({"fleet_ref": "a", "expires_in_hours": None}, "expires_in_hours"),
        ({"fleet_ref": "a", "poll_interval": 0.09}, "poll_interval"),
        ({"fleet_ref": "a", "poll_interval": "1"}, "poll_interval"),
        ({"fleet_ref": "a", "reconcile_interval": 0.5}, "reconcile_interval"),
        ({"fleet_ref": "a", "reconcile_interval": "300"}, "reconcile_interval"),
        ({"fleet_ref": "a", "reinvite_on_expiry": "yes"}, "reinvite_on_expiry"),
    ],
)
def test_a_bad_onboarding_field_is_named(conf, field):
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {field}:"):
        resolved(onboarding_params, conf)


def test_optional_fields_take_null_or_their_type():
    conf = {
        "fleet_ref": "a",
        "fleet_email": "ops@acmefleet.com",
        "success_redirect_url": "https://partner.example/ok",
        "failure_redirect_url": None,
        "limit_tsps": ["samsara"],
    }
    params = resolved(onboarding_params, conf)
    assert {k: params[k] for k in conf} == conf


def test_bulk_defaults_and_list_bounds():
    fleets = [{"fleet_ref": f"acme-{i}"} for i in range(1000)]
    params = resolved(bulk_onboarding_params, {"fleets": fleets})
    assert (params["expires_in_hours"], params["poll_interval"], params["reconcile_interval"]) == (24, 1.0, 300)
    assert params["success_redirect_url"] is None and params["limit_tsps"] is None
    with pytest.raises(ParamValidationError, match="Invalid input for param fleets:"):
        resolved(bulk_onboarding_params, {"fleets": [*fleets, {"fleet_ref": "one-too-many"}]})


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"fleets": [{"fleet_ref": "a"}], "expires_in_hours": 0}, "expires_in_hours"),
        ({"fleets": [{"fleet_ref": "a"}], "limit_tsps": "samsara"}, "limit_tsps"),
        ({"fleets": [{"fleet_ref": "a"}], "failure_redirect_url": "ftp://x"}, "failure_redirect_url"),
        ({"fleets": [{"fleet_ref": "a"}], "success_redirect_url": "ftp://x"}, "success_redirect_url"),
        ({"fleets": []}, "fleets"),
        ({"fleets": "acme-1"}, "fleets"),
        ({"fleets": [{"fleet_ref": "bad/ref!"}]}, "fleets"),
    ],
)
def test_a_bad_bulk_default_is_named(conf, field):
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {field}:"):
        resolved(bulk_onboarding_params, conf)


def test_wait_params_are_shared_by_both_dags():
    assert set(wait_params()) == {"poll_interval", "reconcile_interval", "reinvite_on_expiry"}
    for params in (onboarding_params(), bulk_onboarding_params()):
        assert (params["poll_interval"].value, params["reconcile_interval"].value) == (1.0, 300)


def test_fleet_requests_merge_defaults_under_each_fleet():
    params = {
        "fleets": [
            {"fleet_ref": "a", "fleet_name": None},
            {"fleet_ref": "b", "expires_in_hours": 2, "limit_tsps": ["geotab"]},
        ],
        "success_redirect_url": "https://partner.example/ok",
        "failure_redirect_url": "https://partner.example/ko",
        "limit_tsps": ["samsara"],
        "expires_in_hours": 24,
        "poll_interval": 1.0,
    }
    urls = {"success_redirect_url": "https://partner.example/ok", "failure_redirect_url": "https://partner.example/ko"}
    assert fleet_requests(params) == [
        {"fleet_ref": "a", **urls, "limit_tsps": ["samsara"], "expires_in_hours": 24},
        {"fleet_ref": "b", **urls, "limit_tsps": ["geotab"], "expires_in_hours": 2},
    ]
    assert fleet_requests({**params, "failure_redirect_url": None})[0].keys() == {
        "fleet_ref",
        "success_redirect_url",
        "limit_tsps",
        "expires_in_hours",
    }
    assert fleet_requests({"fleets": [{"fleet_ref": "only"}]}) == [{"fleet_ref": "only"}]


def test_fleet_requests_name_every_duplicate_once():
    fleets = [{"fleet_ref": ref} for ref in ("b", "a", "c", "b", "a", "b")]
    with pytest.raises(ValueError, match=r"^fleets: duplicate fleet_ref\(s\) a, b \(one invitation per fleet_ref\)$"):
        fleet_requests({"fleets": fleets})


def labels(params: dict[str, Param]) -> dict[str, tuple[str | None, str | None]]:
    return {name: (param.schema.get("title"), param.description) for name, param in params.items()}


def test_the_trigger_forms_labels():
    """What Airflow's trigger form shows for each field (title, description)."""
    waits = {
        "poll_interval": ("Inbox poll interval (s)", None),
        "reconcile_interval": ("REST reconciliation interval (s)", None),
        "reinvite_on_expiry": (
            "Re-invite once on expiry",
            "If the link expires unanswered, invite the fleet once more (a new expiry) instead of failing.",
        ),
    }
    assert labels(onboarding_params()) == {
        "fleet_ref": ("Fleet ref", "Your own id for the fleet: letters, digits, spaces, - and _."),
        "fleet_name": ("Fleet name", "Letters, digits, spaces."),
        "fleet_email": ("Fleet e-mail (Catena e-mails the link)", None),
        "success_redirect_url": ("Success redirect URL", None),
        "failure_redirect_url": ("Failure redirect URL", None),
        "callback_url": ("Callback URL (optional)", None),
        "limit_tsps": ("Allowed TSPs (slugs)", None),
        "permissions": (
            "Data to request",
            'Resources the fleet is asked to share, e.g. {"vehicle": "read"}; empty: Catena\'s default.',
        ),
        "expires_in_hours": ("Link validity (hours, 1-672)", None),
        **waits,
    }
    assert labels(bulk_onboarding_params()) == {
        "fleets": ("Fleets", '[{"fleet_ref": "acme-1", "fleet_name": "Acme One"}, ...]; fields override the defaults.'),
        "success_redirect_url": ("Default success redirect URL", None),
        "failure_redirect_url": ("Default failure redirect URL", None),
        "limit_tsps": ("Default allowed TSPs", None),
        "expires_in_hours": ("Default link validity (hours)", None),
        **waits,
    }


def test_permissions_name_a_share_level_per_resource():
    asked = resolved(onboarding_params, {"fleet_ref": "a", "permissions": {"vehicle": "read"}})
    assert asked["permissions"] == {"vehicle": "read"}
    with pytest.raises(ParamValidationError, match="permissions"):
        resolved(onboarding_params, {"fleet_ref": "a", "permissions": {"vehicle": "write"}})

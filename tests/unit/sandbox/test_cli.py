from __future__ import annotations

import pytest

from catena_sandbox.cli import build_parser, main, settings_from_args


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "SPEED", "CLIENT_ID", "CLIENT_SECRET", "RATE_429", "VARIATIONS"):
        monkeypatch.delenv(f"CATENA_SANDBOX_{name}", raising=False)
    settings = settings_from_args(build_parser().parse_args(["serve"]))
    assert (settings.host, settings.port, settings.speed) == ("127.0.0.1", 8090, 1.0)
    assert (settings.client_id, settings.client_secret) == ("sandbox", "sandbox-secret")
    assert settings.faults.rate_429 == 0 and settings.faults.duplicate_rate == 0
    assert settings.base_url == "http://127.0.0.1:8090"
    assert settings.variations == {}  # every knob varies


def test_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATENA_SANDBOX_CLIENT_SECRET", "from-env")
    monkeypatch.setenv("CATENA_SANDBOX_SPEED", "60")
    args = build_parser().parse_args(
        [
            "serve",
            "--port",
            "9001",
            "--speed",
            "3600",
            "--duplicate-rate",
            "0.5",
            "--rate-5xx",
            "0.1",
            "--no-mask-urls",
            "--fault-seed",
            "7",
        ]
    )
    settings = settings_from_args(args)
    assert settings.port == 9001 and settings.speed == 3600  # a flag beats the environment
    assert settings.client_secret == "from-env"
    assert settings.faults.duplicate_rate == 0.5 and settings.faults.rate_5xx == 0.1
    assert settings.mask_urls is False and settings.fault_seed == 7
    assert settings.scaled(3600) == 1.0 and settings.step == pytest.approx(max(3 / 3600, settings.min_step_seconds))


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--speed", "0"],
        ["serve", "--rate-429", "1.5"],
        ["serve", "--signing-secret", "x"],  # gone: callback_url subscriptions have secrets of their own
    ],
)
def test_bad_values_are_refused_before_serving(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)


def test_variations_from_the_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATENA_SANDBOX_VARIATIONS", "connection_fleet_ref=null,share_agreement_fleet_ref=set")
    args = build_parser().parse_args(
        ["serve", "--variation", "share_agreement_fleet_ref=null", "--variation", "invitation_fleet_id=vary"]
    )
    assert settings_from_args(args).variations == {
        "connection_fleet_ref": "null",
        "share_agreement_fleet_ref": "null",  # the flag beats the environment
        "invitation_fleet_id": "vary",
    }


@pytest.mark.parametrize("value", ["nope=set", "connection_fleet_ref=sometimes", "connection_fleet_ref"])
def test_bad_variations_are_refused_before_serving(value: str) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--variation", value])

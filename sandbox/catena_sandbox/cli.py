"""``catena-sandbox serve``: run the Catena sandbox with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from catena_sandbox.settings import FaultSettings, Settings
from catena_sandbox.variations import KNOBS, VARY
from catena_sandbox.variations import parse as parse_variations

ENV_PREFIX = "CATENA_SANDBOX_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


# Settings and FaultSettings fields offered as ``serve`` options, in --help order, with their help text, so
# each option is written once. The flag is the field name in kebab case (``FLAGS`` for the exceptions), the
# environment variable CATENA_SANDBOX_ plus the flag in upper snake case; a flag beats the environment, which
# beats the field's default.
SETTINGS_OPTIONS = {
    "host": "bind address",
    "port": "port",
    "public_url": "base URL of magic links (default http://HOST:PORT)",
    "speed": "time factor for scenarios and expiry (3600: 1 h = 1 s)",
    "client_id": "partner client id",
    "client_secret": "partner client secret",
    "token_ttl_seconds": "access token lifetime, seconds",
    "step_seconds": "gap between scenario steps at speed 1",
    "retry_base_delay": "first retry delay, s",
    "delivery_timeout": "receiver timeout, s",
    "delivery_workers": "concurrent deliveries",
    "failing_threshold": "failing- schedule threshold",
}
FAULT_OPTIONS = {
    "duplicate_rate": "receivers: duplicate deliveries",
    "reorder_rate": "receivers: held-back deliveries",
    "reorder_delay": "hold-back of a reordered delivery, s",
    "jitter_seconds": "receivers: random delay up to S",
    "rate_429": "API clients: probability of 429",
    "retry_after_seconds": "429 retry_after_seconds",
    "rate_5xx": "API clients: probability a burst of 500s starts",
    "burst_5xx_length": "answers in a burst of 500s",
}
FLAGS = {"token_ttl_seconds": "token-ttl"}
KINDS: dict[str, type] = {"public_url": str}  # fields whose default (None) does not give the type


def _dest(field_name: str) -> str:
    """The argparse attribute of a field's option."""
    return FLAGS.get(field_name, field_name).replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    faults = FaultSettings()
    parser = argparse.ArgumentParser(prog="catena-sandbox", description="Local simulator of Catena Telematics.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API, token endpoint, admin API and Connect page")

    def option(flag: str, kind: type, default: object, help_text: str) -> None:
        raw = _env(flag[2:].upper().replace("-", "_"))
        serve.add_argument(flag, type=kind, default=kind(raw) if raw is not None else default, help=help_text)

    def field_options(owner: Settings | FaultSettings, helps: dict[str, str]) -> None:
        for name, help_text in helps.items():
            default = getattr(owner, name)
            option("--" + _dest(name).replace("_", "-"), KINDS.get(name, type(default)), default, help_text)

    field_options(defaults, SETTINGS_OPTIONS)
    serve.add_argument(
        "--no-mask-urls",
        dest="mask_urls",
        action="store_false",
        default=_env("MASK_URLS", "1") not in ("0", "false", "no"),
        help="show subscription URLs in clear in reads",
    )
    field_options(faults, FAULT_OPTIONS)
    option("--fault-seed", int, None, "seed of the fault dice, for reproducible runs")
    option("--log-level", str, "warning", "log level (info: one line per event published)")
    serve.add_argument(
        "--variation",
        dest="variations",
        action="append",
        metavar="KNOB=VALUE",
        help=f"pin a variation knob (repeatable; default {VARY} for every knob; env {ENV_PREFIX}VARIATIONS="
        f"knob=value,...): {', '.join(f'{name} ({VARY}|{chr(124).join(k.values)})' for name, k in KNOBS.items())}",
    )
    return parser


def variations_from_args(args: argparse.Namespace) -> dict[str, str]:
    """The environment's ``knob=value,...`` list, then each ``--variation`` (a flag beats the environment)."""
    variations = parse_variations(_env("VARIATIONS", "") or "")
    for item in args.variations or ():
        variations.update(parse_variations(item))
    return variations


def settings_from_args(args: argparse.Namespace) -> Settings:
    faults = FaultSettings(**{name: getattr(args, name) for name in FAULT_OPTIONS})
    return Settings(
        **{name: getattr(args, _dest(name)) for name in SETTINGS_OPTIONS},
        mask_urls=args.mask_urls,
        fault_seed=args.fault_seed,
        faults=faults,
        variations=variations_from_args(args),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    import uvicorn

    from catena_sandbox.app import create_app

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=args.log_level.upper())
    print(f"Catena sandbox on {settings.base_url} (speed {settings.speed:g})", file=sys.stderr, flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())

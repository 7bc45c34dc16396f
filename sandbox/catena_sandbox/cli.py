"""``catena-sandbox serve``: run the Catena sandbox with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from catena_sandbox.settings import FaultSettings, Settings

ENV_PREFIX = "CATENA_SANDBOX_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    faults = FaultSettings()
    parser = argparse.ArgumentParser(prog="catena-sandbox", description="Local simulator of Catena Telematics.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API, token endpoint, admin API and Connect page")

    def option(flag: str, env: str, kind: type, default: object, help_text: str) -> None:
        raw = _env(env)
        serve.add_argument(flag, type=kind, default=kind(raw) if raw is not None else default, help=help_text)

    option("--host", "HOST", str, defaults.host, "bind address")
    option("--port", "PORT", int, defaults.port, "port")
    option("--public-url", "PUBLIC_URL", str, None, "base URL of magic links (default http://HOST:PORT)")
    option("--speed", "SPEED", float, defaults.speed, "time factor for scenarios and expiry (3600: 1 h = 1 s)")
    option("--client-id", "CLIENT_ID", str, defaults.client_id, "partner client id")
    option("--client-secret", "CLIENT_SECRET", str, defaults.client_secret, "partner client secret")
    option("--signing-secret", "SIGNING_SECRET", str, defaults.signing_secret, "partner default signing secret")
    option("--token-ttl", "TOKEN_TTL", int, defaults.token_ttl_seconds, "access token lifetime, seconds")
    option("--step-seconds", "STEP_SECONDS", float, defaults.step_seconds, "gap between scenario steps at speed 1")
    option("--retry-base-delay", "RETRY_BASE_DELAY", float, defaults.retry_base_delay, "first retry delay, s")
    option("--delivery-timeout", "DELIVERY_TIMEOUT", float, defaults.delivery_timeout, "receiver timeout, s")
    option("--delivery-workers", "DELIVERY_WORKERS", int, defaults.delivery_workers, "concurrent deliveries")
    option("--failing-threshold", "FAILING_THRESHOLD", int, defaults.failing_threshold, "failing- schedule threshold")
    serve.add_argument(
        "--no-mask-urls",
        dest="mask_urls",
        action="store_false",
        default=_env("MASK_URLS", "1") not in ("0", "false", "no"),
        help="show subscription URLs in clear in reads",
    )
    option("--duplicate-rate", "DUPLICATE_RATE", float, faults.duplicate_rate, "receivers: duplicate deliveries")
    option("--reorder-rate", "REORDER_RATE", float, faults.reorder_rate, "receivers: held-back deliveries")
    option("--reorder-delay", "REORDER_DELAY", float, faults.reorder_delay, "hold-back of a reordered delivery, s")
    option("--jitter-seconds", "JITTER_SECONDS", float, faults.jitter_seconds, "receivers: random delay up to S")
    option("--rate-429", "RATE_429", float, faults.rate_429, "API clients: probability of 429")
    option("--retry-after-seconds", "RETRY_AFTER_SECONDS", int, faults.retry_after_seconds, "429 retry_after_seconds")
    option("--rate-5xx", "RATE_5XX", float, faults.rate_5xx, "API clients: probability a burst of 500s starts")
    option("--burst-5xx-length", "BURST_5XX_LENGTH", int, faults.burst_5xx_length, "answers in a burst of 500s")
    option("--fault-seed", "FAULT_SEED", int, None, "seed of the fault dice, for reproducible runs")
    option("--log-level", "LOG_LEVEL", str, "warning", "log level (info: one line per event published)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    faults = FaultSettings(
        duplicate_rate=args.duplicate_rate,
        reorder_rate=args.reorder_rate,
        reorder_delay=args.reorder_delay,
        jitter_seconds=args.jitter_seconds,
        rate_429=args.rate_429,
        retry_after_seconds=args.retry_after_seconds,
        rate_5xx=args.rate_5xx,
        burst_5xx_length=args.burst_5xx_length,
    )
    return Settings(
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        speed=args.speed,
        client_id=args.client_id,
        client_secret=args.client_secret,
        signing_secret=args.signing_secret,
        token_ttl_seconds=args.token_ttl,
        step_seconds=args.step_seconds,
        retry_base_delay=args.retry_base_delay,
        delivery_timeout=args.delivery_timeout,
        delivery_workers=args.delivery_workers,
        failing_threshold=args.failing_threshold,
        mask_urls=args.mask_urls,
        fault_seed=args.fault_seed,
        faults=faults,
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

"""``catena-webhooks serve``: the receiver alone, configured by ``[catena] inbox_url`` and ``webhook_secrets``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI

from catena_airflow.webhooks.app import create_webhook_app
from catena_airflow.webhooks.tuning import tune_gc_for_serving

DEFAULT_PORT = 8091


def create_serving_app() -> FastAPI:
    """The app each server process runs (uvicorn's factory), its garbage collector tuned (tuning.py)."""
    app = create_webhook_app()
    tune_gc_for_serving()
    return app


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catena-webhooks", description="Catena Telematics webhook receiver")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve POST /webhooks and /catena/webhooks")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request (off: the receiver logs errors)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="server processes (default: 1). More use more cores; PostgreSQL inboxes gain most, since a "
        "SQLite inbox takes one writer at a time",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        # An import string, so that each worker process builds its own app (its own inbox writer).
        "catena_airflow.webhooks.cli:create_serving_app",
        factory=True,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        # The webhook route is public: it must not say which server (or clock) answers it.
        server_header=False,
        date_header=False,
    )


if __name__ == "__main__":
    main()

from __future__ import annotations

import pytest

from catena_airflow.webhooks.cli import build_parser


def test_serve_defaults():
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.access_log, args.workers) == ("127.0.0.1", 8091, False, 1)


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_workers_must_be_a_positive_number(workers):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--workers", workers])


def test_serve_options():
    args = build_parser().parse_args(
        ["serve", "--host", "0.0.0.0", "--port", "9000", "--log-level", "debug", "--workers", "2"]
    )
    assert (args.host, args.port, args.log_level, args.workers) == ("0.0.0.0", 9000, "debug", 2)


def test_a_command_is_required():
    with pytest.raises(SystemExit):
        build_parser().parse_args([])

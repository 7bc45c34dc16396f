from __future__ import annotations

import gc

import pytest

from catena_airflow.webhooks.cli import build_parser, create_serving_app
from catena_airflow.webhooks.tuning import GC_GEN0_THRESHOLD


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


def test_serving_app_freezes_the_start_up_heap(monkeypatch, tmp_path):
    monkeypatch.setenv("CATENA_INBOX_URL", f"sqlite:///{tmp_path / 'inbox.db'}")
    threshold = gc.get_threshold()
    try:
        app = create_serving_app()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
        assert {route.path for route in app.routes} >= {"/webhooks", "/catena/webhooks", "/healthz"}
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)

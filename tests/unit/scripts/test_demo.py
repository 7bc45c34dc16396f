"""scripts/demo.py's refusals, which happen before anything starts (real process, no Airflow)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.processes import free_port

pytestmark = pytest.mark.integration

DEMO = Path(__file__).resolve().parents[3] / "scripts" / "demo.py"


def _demo(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CATENA_", "KEEP", "DEMO_"))}
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        env={**clean, "DEMO_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_chosen_port_that_is_taken_stops_the_demo_with_a_clear_message(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "keep-me").write_text("x")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = _demo(home, AIRFLOW_PORT=str(port), SANDBOX_PORT=str(free_port()))

    assert result.returncode == 2
    assert f"AIRFLOW_PORT={port} is already in use" in result.stdout
    assert (home / "keep-me").exists()  # nothing wiped, nothing started


def test_a_demo_kept_running_is_not_wiped(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # This test process's own group stands in for a running kept stack.
    (home / "demo-stack.json").write_text(json.dumps({"pids": [os.getpgrp()], "airflow_url": "http://x:1"}))

    result = _demo(home)

    assert result.returncode == 2
    assert "scripts/demo.sh stop" in result.stdout
    assert (home / "demo-stack.json").exists()


def test_stop_without_a_kept_demo_says_so(tmp_path):
    result = _demo(tmp_path, "stop")
    assert result.returncode == 0
    assert "no demo is running" in result.stdout

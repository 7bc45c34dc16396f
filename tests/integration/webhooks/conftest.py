from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.inbox.markers import mark_postgres_variants


def pytest_collection_modifyitems(items):
    mark_postgres_variants(items, Path(__file__).parent)


@pytest.fixture
def start_process(tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts real processes in their own process group; stops them (TERM, then KILL) even on failure."""
    started: list[subprocess.Popen] = []

    def start(argv: list[str], *, env: dict[str, str]) -> subprocess.Popen:
        log = open(tmp_path / f"process-{len(started)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_file = log  # type: ignore[attr-defined]
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        proc.log_file.close()  # type: ignore[attr-defined]


def process_log(proc: subprocess.Popen) -> str:
    proc.log_file.flush()  # type: ignore[attr-defined]
    return Path(proc.log_file.name).read_text(errors="replace")  # type: ignore[attr-defined]

"""Real processes the reliability and security tests start, kill and restart: the receiver and a TCP proxy."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.processes import RestartableProcess, free_port, start_process
from tests.fixtures.receiver import ReceiverProcess

PROXY_SCRIPT = Path(__file__).with_name("tcp_proxy.py")


class TcpProxy(RestartableProcess):
    """``tcp_proxy.py`` in front of ``target``; ``stop()`` is the outage, ``start()`` the recovery."""

    def __init__(self, *, target_host: str, target_port: int, log_path: Path) -> None:
        super().__init__(log_path)
        self.port = free_port()
        self.target = (target_host, target_port)

    def start(self) -> TcpProxy:
        argv = [sys.executable, str(PROXY_SCRIPT), str(self.port), self.target[0], str(self.target[1])]
        self.child = start_process(
            "tcp proxy", argv, log_path=self.log_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if not self.running() or time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"TCP proxy did not start:\n{self.log()}") from None
                time.sleep(0.05)


class ProcessFactory:
    """Starts receivers and proxies for one test (or module); every one is stopped at its end, even on failure."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._started: list[RestartableProcess] = []

    def receiver(self, *, inbox_url: str, secrets: str, **extra_env: str) -> ReceiverProcess:
        log_path = self.directory / f"receiver-{len(self._started)}.log"
        process = ReceiverProcess(
            inbox_url=inbox_url,
            secrets=secrets,
            log_path=log_path,
            extra_args=("--log-level", "warning"),
            extra_env=extra_env,
        )
        self._started.append(process)
        return process.start()

    def proxy(self, target_host: str, target_port: int) -> TcpProxy:
        log_path = self.directory / f"proxy-{len(self._started)}.log"
        process = TcpProxy(target_host=target_host, target_port=target_port, log_path=log_path)
        self._started.append(process)
        return process.start()

    def close(self) -> None:
        for process in reversed(self._started):
            process.stop()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessFactory]:
    factory = ProcessFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="module")
def module_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFactory]:
    factory = ProcessFactory(tmp_path_factory.mktemp("processes"))
    try:
        yield factory
    finally:
        factory.close()

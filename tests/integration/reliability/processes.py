"""Real processes the reliability and security tests start, kill and restart: the receiver and a TCP proxy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.net import free_port, wait_for_http
from tests.fixtures.receiver import receiver_command

PROXY_SCRIPT = Path(__file__).with_name("tcp_proxy.py")


class _Process:
    """A child process with its output in a log file; stopped (or killed) by its owner's finalizer."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, open connections dropped as in a crash."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class ReceiverProcess(_Process):
    """``catena-webhooks serve`` on a free port, configured only by its environment, as deployed."""

    def __init__(self, *, inbox_url: str, secrets: str, log_path: Path, extra_env: dict[str, str] | None = None):
        super().__init__(log_path)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base_url}/catena/webhooks"
        self.inbox_url = inbox_url
        self.secrets = secrets
        self.extra_env = extra_env or {}

    def start(self, *, secrets: str | None = None) -> ReceiverProcess:
        if secrets is not None:
            self.secrets = secrets
        env = {
            **os.environ,
            "CATENA_INBOX_URL": self.inbox_url,
            "CATENA_WEBHOOK_SECRET": self.secrets,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        argv = [*receiver_command(), "serve", "--port", str(self.port)]
        self._spawn([*argv, "--log-level", "warning"], env)
        try:
            wait_for_http(self.base_url + "/healthz", timeout=60, process=self.process)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"receiver did not start: {exc}\n{self.log()[-3000:]}") from exc
        return self

    def restart(self, *, secrets: str | None = None) -> ReceiverProcess:
        self.stop()
        return self.start(secrets=secrets)


class TcpProxy(_Process):
    """``tcp_proxy.py`` in front of ``target``; ``stop()`` is the outage, ``start()`` the recovery."""

    def __init__(self, *, target_host: str, target_port: int, log_path: Path) -> None:
        super().__init__(log_path)
        self.port = free_port()
        self.target = (target_host, target_port)

    def start(self) -> TcpProxy:
        argv = [sys.executable, str(PROXY_SCRIPT), str(self.port), self.target[0], str(self.target[1])]
        self._spawn(argv, {**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if not self.running or time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"TCP proxy did not start:\n{self.log()}") from None
                time.sleep(0.05)


class ProcessFactory:
    """Starts receivers and proxies for one test (or module); every one is stopped at its end, even on failure."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._started: list[_Process] = []

    def receiver(self, *, inbox_url: str, secrets: str, **extra_env: str) -> ReceiverProcess:
        log_path = self.directory / f"receiver-{len(self._started)}.log"
        process = ReceiverProcess(inbox_url=inbox_url, secrets=secrets, log_path=log_path, extra_env=extra_env)
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

"""The local Catena sandbox (``catena-sandbox serve``) as a child process."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import ChildProcess, Service, console_script, start_http_process

SANDBOX_CLIENT_ID = "sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
TOKEN_PATH = "/realms/catena/protocol/openid-connect/token"


@dataclass(frozen=True)
class SandboxSettings:
    port: int
    log_path: Path
    host: str = "127.0.0.1"
    speed: float = 1.0
    venv_bin: Path = Path(sys.executable).parent
    extra_args: tuple[str, ...] = ()  # further ``serve`` flags (tests: fault injection, retry delays)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Sandbox(Service[SandboxSettings]):
    """One ``catena-sandbox serve`` process; its state lives in memory and dies with it."""

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    def start(self, *, timeout: float = 60.0, interval: float = 0.5) -> ChildProcess:
        settings = self.settings
        command = [
            *console_script("catena-sandbox", module="catena_sandbox", bin_dir=settings.venv_bin),
            "serve",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--speed",
            f"{settings.speed:g}",
            *settings.extra_args,
        ]
        # The admin API reports health once the app (API, token endpoint, delivery engine) is serving.
        self.process = start_http_process(
            "catena-sandbox",
            command,
            log_path=settings.log_path,
            ready_url=f"{self.base_url}/sandbox/health",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # the log is complete when a test reads its tail
            timeout=timeout,
            ready=lambda r: r.status_code == 200,
            interval=interval,
        )
        return self.process

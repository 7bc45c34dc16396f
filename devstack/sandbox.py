"""The local Catena sandbox (``catena-sandbox serve``) as a child process."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import ChildProcess, Service, start_process, wait_for_http

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

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Sandbox(Service[SandboxSettings]):
    """One ``catena-sandbox serve`` process; its state lives in memory and dies with it."""

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    def start(self, *, timeout: float = 60.0) -> ChildProcess:
        settings = self.settings
        command = [
            str(settings.venv_bin / "catena-sandbox"),
            "serve",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--speed",
            f"{settings.speed:g}",
        ]
        self.process = start_process("catena-sandbox", command, log_path=settings.log_path)
        # The admin API reports health once the app (API, token endpoint, delivery engine) is serving.
        wait_for_http(
            f"{self.base_url}/sandbox/health",
            timeout=timeout,
            process=self.process,
            ready=lambda r: r.status_code == 200,
        )
        return self.process

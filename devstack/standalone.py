"""``airflow standalone`` in a given AIRFLOW_HOME, configured for the Catena provider, started and stopped."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from devstack.processes import ChildProcess, ProcessFailed, Service, free_port, start_process, wait_for_http
from devstack.rest import fetch_token

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_USER = "admin"
HEALTH_PATH = "/api/v2/monitor/health"
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


@dataclass(frozen=True)
class CatenaConnection:
    """The ``catena_default`` connection: login = client id, password = client secret, host = API URL."""

    api_url: str
    client_id: str
    client_secret: str
    auth_url: str

    @classmethod
    def for_sandbox(cls, sandbox_url: str, *, client_id: str = "sandbox", client_secret: str = "sandbox-secret"):
        base = sandbox_url.rstrip("/")
        return cls(
            api_url=base,
            client_id=client_id,
            client_secret=client_secret,
            auth_url=f"{base}/realms/catena/protocol/openid-connect/token",
        )

    def as_env_value(self) -> str:
        """The JSON form of ``AIRFLOW_CONN_CATENA_DEFAULT``."""
        return json.dumps(
            {
                "conn_type": "catena",
                "host": self.api_url,
                "login": self.client_id,
                "password": self.client_secret,
                "extra": {"auth_url": self.auth_url},
            }
        )


@dataclass(frozen=True)
class StandaloneSettings:
    """Everything that differs between the demo and a test run of ``airflow standalone``."""

    airflow_home: Path
    catena: CatenaConnection
    api_port: int = 8080
    host: str = "127.0.0.1"
    inbox_url: str | None = None  # None: SQLite under AIRFLOW_HOME
    dags_folder: Path = REPO_ROOT / "dags"
    venv_bin: Path = Path(sys.executable).parent
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(64))  # HS512 wants 64 bytes or more
    # Encrypts connections in the metadata DB and subscription secrets in the inbox. The caller's key when
    # it has one (a test session's processes share one, as a deployment's components do), else a new one.
    fernet_key: str = field(
        default_factory=lambda: os.environ.get("AIRFLOW__CORE__FERNET_KEY") or Fernet.generate_key().decode()
    )
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def receiver_url(self) -> str:
        return f"{self.base_url}/catena/webhooks"

    @property
    def resolved_inbox_url(self) -> str:
        return self.inbox_url or f"sqlite:///{self.airflow_home.resolve() / 'catena_inbox.db'}"

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json"


def without_airflow_settings(base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base_env`` (default: ours) without Airflow settings, connections and variables: those
    of an enclosing Airflow (a test session's AIRFLOW_HOME, say) must not leak into a stack we start."""
    env = dict(os.environ if base_env is None else base_env)
    return {
        key: value for key, value in env.items() if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }


def standalone_environment(settings: StandaloneSettings, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment of ``airflow standalone``: a copy of ``base_env`` plus the project's settings."""
    home = settings.airflow_home.resolve()
    env = without_airflow_settings(base_env)
    env.update(
        {
            # standalone launches its components as `airflow ...` from PATH.
            "PATH": f"{settings.venv_bin}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder.resolve()),
            # The plugin comes from the installed package's entry point; the folder stays empty.
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(settings.passwords_file.resolve()),
            "AIRFLOW__API_AUTH__JWT_SECRET": settings.jwt_secret,
            "AIRFLOW__CORE__FERNET_KEY": settings.fernet_key,
            "AIRFLOW__API__HOST": settings.host,
            "AIRFLOW__API__PORT": str(settings.api_port),
            "AIRFLOW__API__BASE_URL": settings.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.base_url}/execution/",
            # The log servers default to 8793/8794; other stacks on this machine may hold them.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__CORE__PARALLELISM": "8",
            # Tasks call the api-server's Execution API; on a busy 2-core machine it can take longer
            # than the 5 s default to answer, which fails the task with a ReadTimeout.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "CATENA_INBOX_URL": settings.resolved_inbox_url,
            "AIRFLOW_CONN_CATENA_DEFAULT": settings.catena.as_env_value(),
            # Where catena_setup subscribes Catena's webhooks: the receiver this api-server mounts.
            "AIRFLOW_VAR_CATENA_RECEIVER_URL": settings.receiver_url,
            "NO_COLOR": "1",
        }
    )
    env.update(settings.extra_env)
    return env


class AirflowStandalone(Service[StandaloneSettings]):
    """One ``airflow standalone`` process tree, with the known admin password the settings carry."""

    @property
    def log_path(self) -> Path:
        return self.settings.airflow_home / "standalone.log"

    def prepare_home(self) -> None:
        """Create AIRFLOW_HOME and write the admin password before the auth manager generates one."""
        home = self.settings.airflow_home
        (home / "plugins").mkdir(parents=True, exist_ok=True)
        self.settings.passwords_file.write_text(json.dumps({ADMIN_USER: self.settings.admin_password}) + "\n")
        self.settings.passwords_file.chmod(0o600)

    def start(self) -> ChildProcess:
        if shutil.which("airflow", path=str(self.settings.venv_bin)) is None:
            raise FileNotFoundError(f"no `airflow` executable in {self.settings.venv_bin}; run scripts/venv.sh")
        self.prepare_home()
        self.process = start_process(
            "airflow standalone",
            ["airflow", "standalone"],
            log_path=self.log_path,
            env=standalone_environment(self.settings),
            cwd=self.settings.airflow_home,
        )
        return self.process

    def wait_until_ready(self, dag_ids: Iterable[str] = (), *, timeout: float = 180.0) -> None:
        """Wait for every component to report healthy, then for each DAG in ``dag_ids`` to be parsed."""
        if self.process is None:
            raise ProcessFailed("airflow standalone was not started")
        wait_for_airflow(
            self.base_url, ADMIN_USER, self.settings.admin_password, dag_ids, timeout=timeout, processes=[self.process]
        )


def wait_for_airflow(
    base_url: str,
    username: str,
    password: str,
    dag_ids: Iterable[str] = (),
    *,
    timeout: float,
    processes: Sequence[ChildProcess],
) -> None:
    """Wait until the health endpoint reports every component healthy, then until each DAG in ``dag_ids``
    is parsed; fail early (with a log tail) if one of ``processes`` exits, and with Airflow's import
    errors if a DAG never appears."""
    deadline = time.monotonic() + timeout
    wait_for_http(f"{base_url}{HEALTH_PATH}", timeout=timeout, process=processes, ready=_all_components_healthy)
    headers = {"Authorization": f"Bearer {fetch_token(base_url, username, password)}"}
    for dag_id in dag_ids:
        try:
            wait_for_http(
                f"{base_url}/api/v2/dags/{dag_id}",
                timeout=max(deadline - time.monotonic(), 1.0),
                process=processes,
                ready=lambda response: response.status_code == 200,
                headers=headers,
            )
        except (ProcessFailed, TimeoutError) as exc:
            if not all(process.running() for process in processes):
                raise
            raise ProcessFailed(f"{exc}\n{import_errors(base_url, headers)}") from None


def import_errors(base_url: str, headers: dict[str, str]) -> str:
    """Airflow's DAG import errors, the usual reason a DAG never appears."""
    response = requests.get(f"{base_url}/api/v2/importErrors", headers=headers, timeout=30)
    errors = response.json().get("import_errors", []) if response.ok else []
    if not errors:
        return "no DAG import errors reported"
    return "\n".join(f"import error in {e.get('filename')}:\n{e.get('stack_trace')}" for e in errors)


def _all_components_healthy(response: requests.Response) -> bool:
    if response.status_code != 200:
        return False
    body = response.json()
    return all((body.get(name) or {}).get("status") == "healthy" for name in HEALTH_COMPONENTS)

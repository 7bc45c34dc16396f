"""docker-compose.yaml's production topology, run as native processes on this machine.

What ``docker compose --profile sandbox up`` starts, each Airflow component with the environment
docker-compose.yaml gives its service (read by devstack.compose, never copied here) and the compose
network localized in one place (``localization``):

  postgres (airflow, catena_inbox, catena_warehouse) -> throw-away databases on a PostgreSQL server here
  redis:6379/0                                   -> a Redis database of this run's own
  airflow-apiserver:8080                         -> 127.0.0.1 and a free port
  catena-sandbox:8090                            -> the sandbox (devstack.sandbox) on a free port

``airflow-init`` does what the image's entrypoint does for it (``_AIRFLOW_DB_MIGRATE``: ``airflow db
migrate``; ``_AIRFLOW_WWW_USER_CREATE``: the FAB user, with FAB's CLI) and runs the ``python -c`` steps of
its script (the inbox schema). Then the services start in compose's dependency order:
api-server, scheduler, dag-processor and the triggerers; the Celery workers once the api-server answers.

Beyond the compose environment each process gets only what its container has to itself
(``LOCAL_SETTINGS``): AIRFLOW_HOME (the image's /opt/airflow, one directory shared as compose shares
dags/ and logs/), its own ports for what every container binds to the same port (log servers, the
scheduler's health check), a Celery node name per worker (each container has its own host name) and
the test machine's tuning in ``MACHINE_TUNING``.
"""

from __future__ import annotations

import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devstack.compose import COMPOSE_FILE, ComposeFile, Endpoint, Localization
from devstack.processes import (
    ChildProcess,
    ProcessFailed,
    Service,
    check_running,
    free_port,
    start_process,
    stop_all,
    wait_for_http,
)
from devstack.standalone import REPO_ROOT, wait_for_airflow, without_airflow_settings

API_SERVER = "airflow-apiserver"
SCHEDULER = "airflow-scheduler"
DAG_PROCESSOR = "airflow-dag-processor"
TRIGGERER = "airflow-triggerer"
WORKER = "airflow-worker"
INIT = "airflow-init"
DEFAULT_QUEUE = "default"  # [operators] default_queue, which the compose file leaves alone

# The test machine, not production: 2 cores shared with other test runs. Tasks call the api-server's
# Execution API, which can take longer than its 5 s default to answer there (a ReadTimeout fails the task).
MACHINE_TUNING = {"AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30"}


@dataclass(frozen=True)
class TopologySettings:
    home: Path  # AIRFLOW_HOME of every component
    postgres: Mapping[str, str]  # compose database name (airflow, catena_inbox, ...) -> local URL
    redis_url: str  # the local Redis database standing in for redis:6379/0
    sandbox_url: str  # where the sandbox listens (the stand-in for catena-sandbox:8090)
    api_port: int
    triggerers: int = 2
    workers: int = 2
    compose_path: Path = COMPOSE_FILE
    dags_folder: Path = REPO_ROOT / "dags"
    venv_bin: Path = Path(sys.executable).parent
    # What .env holds in production: the three shared secrets and the UI user's password.
    fernet_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(64))  # HS512 wants 64 bytes or more
    api_secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def compose_variables(self) -> dict[str, str]:
        return {
            "AIRFLOW_FERNET_KEY": self.fernet_key,
            "AIRFLOW_JWT_SECRET": self.jwt_secret,
            "AIRFLOW_API_SECRET_KEY": self.api_secret_key,
            "_AIRFLOW_WWW_USER_PASSWORD": self.admin_password,
        }


def localization(settings: TopologySettings, services: Iterable[str]) -> Localization:
    """The compose network on this machine (the one place where container addresses become local ones)."""
    databases = {name: make_url(url) for name, url in settings.postgres.items()}
    servers = {(url.host, url.port or 5432, url.username, url.password) for url in databases.values()}
    if len(servers) != 1:
        raise ValueError(f"the compose databases share one server; got {sorted(map(str, servers))}")
    ((host, port, user, password),) = servers
    redis = urlsplit(settings.redis_url)
    sandbox = urlsplit(settings.sandbox_url)
    return Localization(
        endpoints={
            ("postgres", 5432): Endpoint(
                host,
                port,
                userinfo=f"{user}:{password}" if password else user,
                paths={name: url.database for name, url in databases.items()},
            ),
            ("redis", 6379): Endpoint(redis.hostname, redis.port or 6379, paths={"0": redis.path.lstrip("/") or "0"}),
            (API_SERVER, 8080): Endpoint("127.0.0.1", settings.api_port),
            ("catena-sandbox", 8090): Endpoint(sandbox.hostname, sandbox.port),
        },
        services=frozenset(services),
    )


@dataclass
class Component:
    """One running Airflow component: its compose service, its process and what identifies it."""

    name: str  # e.g. airflow-triggerer-2
    service: str
    process: ChildProcess
    celery_node: str | None = None  # workers
    job_id: int | None = None  # triggerers: their TriggererJob


class ProductionTopology(Service[TopologySettings]):
    """The compose topology's Airflow components as child processes; ``with`` starts and stops it."""

    def __init__(self, settings: TopologySettings) -> None:
        super().__init__(settings)
        self.compose = ComposeFile(settings.compose_path, settings.compose_variables())
        self.local = localization(settings, self.compose.services)
        self.components: dict[str, Component] = {}
        self.init_seconds: float | None = None
        self._metadata = create_engine(settings.postgres["airflow"], pool_pre_ping=True)
        self._celery: Any = None

    # -- environment -------------------------------------------------------------------------------
    def environment(self, service: str, local: Mapping[str, str] | None = None) -> dict[str, str]:
        """A component's environment: compose's for ``service``, localized, plus the process's own."""
        home = self.settings.home.resolve()
        env = without_airflow_settings()
        env.update(self.local.environment(self.compose.environment(service)))
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.settings.dags_folder.resolve()),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),  # empty: the plugin is installed
                "PATH": f"{self.settings.venv_bin}:{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
                "NO_COLOR": "1",
                **MACHINE_TUNING,
                **(local or {}),
                **self.settings.extra_env,
            }
        )
        return env

    @property
    def admin_user(self) -> str:
        return self.compose.environment(INIT)["_AIRFLOW_WWW_USER_USERNAME"]

    @property
    def log_dir(self) -> Path:
        return self.settings.home / "components"

    # -- airflow-init ------------------------------------------------------------------------------
    def init(self) -> None:
        """What airflow-init does: migrate the metadata DB, create the UI user, create the Catena schemas."""
        started = time.monotonic()
        env = self.environment(INIT)
        (self.settings.home / "plugins").mkdir(parents=True, exist_ok=True)
        steps: list[list[str]] = []
        if env.get("_AIRFLOW_DB_MIGRATE") == "true":
            steps.append(["airflow", "db", "migrate"])
        if env.get("_AIRFLOW_WWW_USER_CREATE") == "true":
            # The official image's entrypoint creates the user the same way (FAB's CLI).
            user = {
                "--username": env["_AIRFLOW_WWW_USER_USERNAME"],
                "--password": env["_AIRFLOW_WWW_USER_PASSWORD"],
                "--role": "Admin",
                "--email": "airflowadmin@example.com",
                "--firstname": "Airflow",
                "--lastname": "Admin",
            }
            steps.append(["airflow", "users", "create", *(word for pair in user.items() for word in pair)])
        steps += self._init_script_python_steps()
        for step in steps:
            self._run(step, env, log=self.log_dir / "airflow-init.log")
        self.init_seconds = time.monotonic() - started

    def _init_script_python_steps(self) -> list[list[str]]:
        """The ``/entrypoint python ...`` lines of airflow-init's bash script, run with this venv's Python."""
        command = self.compose.command(INIT)
        script = command[command.index("-c") + 1]
        steps = []
        for line in script.splitlines():
            if line.strip().startswith("/entrypoint python "):
                words = shlex.split(line)
                steps.append([str(self.settings.venv_bin / "python"), *words[2:]])
        if not steps:
            raise ValueError(f"{INIT}'s script has no `/entrypoint python` step: {script!r}")
        return steps

    @staticmethod
    def _run(command: list[str], env: Mapping[str, str], *, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            result = subprocess.run(command, env=dict(env), stdout=output, stderr=subprocess.STDOUT, timeout=600)
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise ProcessFailed(f"{command[:3]} exited with {result.returncode}\n--- {log} ---\n{tail}")

    # -- the services ------------------------------------------------------------------------------
    def start(self) -> None:
        self.init()
        self._start(
            API_SERVER,
            API_SERVER,
            {"AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(self.settings.api_port)},
        )
        self._start(SCHEDULER, SCHEDULER, {"AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port())})
        self._start(DAG_PROCESSOR, DAG_PROCESSOR)
        # One triggerer at a time, so that each TriggererJob row is known to belong to its process.
        for number in range(1, self.settings.triggerers + 1):
            component = self._start(
                f"{TRIGGERER}-{number}", TRIGGERER, {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
            )
            component.job_id = self._wait_for_new_triggerer_job(component)
        # Compose starts the workers once the api-server is healthy.
        wait_for_http(f"{self.base_url}/api/v2/version", timeout=300, process=self.processes())
        for number in range(1, self.settings.workers + 1):
            node = f"worker-{number}@catena-topology"
            self._start(
                f"{WORKER}-{number}",
                WORKER,
                {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
                extra_args=["--celery-hostname", node],
            ).celery_node = node

    def _start(
        self, name: str, service: str, local: Mapping[str, str] | None = None, *, extra_args: Iterable[str] = ()
    ) -> Component:
        command = ["airflow", *self.compose.command(service), *extra_args]
        process = start_process(
            name,
            command,
            log_path=self.log_dir / f"{name}.log",
            env=self.environment(service, local),
            cwd=self.settings.home,
        )
        component = Component(name=name, service=service, process=process)
        self.components[name] = component
        return component

    def processes(self) -> list[ChildProcess]:
        return [component.process for component in self.components.values()]

    def _wait_for_new_triggerer_job(self, component: Component, timeout: float = 300.0) -> int:
        known = {c.job_id for c in self.components.values() if c.job_id is not None}
        deadline = time.monotonic() + timeout
        while True:
            check_running(component.process, "before its TriggererJob appeared")
            new = [job for job in self.triggerer_jobs() if job not in known]
            if new:
                return new[0]
            if time.monotonic() > deadline:
                raise component.process.failure(f"no new TriggererJob within {timeout:.0f}s")
            time.sleep(0.5)

    def wait_until_ready(self, dag_ids: Iterable[str] = (), *, timeout: float = 300.0) -> None:
        """Every component healthy (both triggerers heartbeating, every worker answering), DAGs parsed."""
        deadline = time.monotonic() + timeout
        password = self.settings.admin_password
        wait_for_airflow(self.base_url, self.admin_user, password, dag_ids, timeout=timeout, processes=self.processes())
        for component in self.workers():
            while not self.celery.control.ping(destination=[component.celery_node], timeout=1.0):
                check_running(component.process, "before it answered a ping")
                if time.monotonic() > deadline:
                    raise component.process.failure(f"{component.celery_node} answered no ping")
        expected = {component.job_id for component in self.triggerers()}
        while not expected <= set(self.triggerer_jobs()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"triggerer jobs {expected} not all alive: {self.triggerer_jobs()}")
            time.sleep(0.5)

    def workers(self) -> list[Component]:
        return [component for component in self.components.values() if component.service == WORKER]

    def triggerers(self) -> list[Component]:
        return [component for component in self.components.values() if component.service == TRIGGERER]

    # -- what the test reads and does --------------------------------------------------------------
    @property
    def celery(self) -> Any:
        """A Celery app on the run's broker, for control commands (ping, inspect, cancel_consumer)."""
        if self._celery is None:
            from celery import Celery

            broker = self.environment(WORKER)["AIRFLOW__CELERY__BROKER_URL"]
            self._celery = Celery("catena-topology", broker=broker)
        return self._celery

    def triggerer_jobs(self, within_seconds: float = 30.0) -> list[int]:
        """TriggererJob ids that heartbeated recently (Airflow's own health threshold is 30 s)."""
        with self._metadata.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' "
                    "AND latest_heartbeat > now() - make_interval(secs => :secs) ORDER BY id"
                ),
                {"secs": within_seconds},
            )
            return [row.id for row in rows]

    def deferred_tasks(self) -> list[dict[str, Any]]:
        """Deferred task instances with their trigger and the TriggererJob that runs it (None: unassigned)."""
        with self._metadata.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.trigger_id, t.triggerer_id "
                    "FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id WHERE ti.state = 'deferred'"
                )
            )
            return [dict(row._mapping) for row in rows]

    def drain_worker(self, component: Component, *, timeout: float = 120.0) -> None:
        """Make a worker take no new task and wait until it runs none (its queue goes to the others)."""
        node = [component.celery_node]
        self.celery.control.cancel_consumer(DEFAULT_QUEUE, destination=node, reply=True, timeout=5.0)
        deadline = time.monotonic() + timeout
        while True:
            inspect = self.celery.control.inspect(destination=node, timeout=2.0)
            busy = [
                task
                for reply in (inspect.active() or {}, inspect.reserved() or {})
                for tasks in reply.values()
                for task in tasks
            ]
            if not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{component.celery_node} still runs {busy} after {timeout:.0f}s")
            time.sleep(0.5)

    def kill(self, component: Component) -> None:
        """SIGKILL the component's whole process group: no warm shutdown, no goodbye to the broker or the DB."""
        component.process.kill()

    def stop(self, *, timeout: float = 20.0) -> None:
        # Workers first (no new task starts), the api-server last (tasks and triggers report to it).
        order = [WORKER, TRIGGERER, SCHEDULER, DAG_PROCESSOR, API_SERVER]
        components = sorted(self.components.values(), key=lambda component: order.index(component.service))
        stop_all([component.process for component in components], timeout=timeout)
        if self._celery is not None:
            self._celery.close()
        self._metadata.dispose()

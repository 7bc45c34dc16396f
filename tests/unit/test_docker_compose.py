"""docker-compose.yaml and Dockerfile: the production shape the README documents.

No Docker engine runs here, so the file is checked twice: parsed with PyYAML against everything the
project relies on, and validated by Debian's `docker-compose` 1.29 (`config`), which needs no engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devstack.compose import ComposeFile
from devstack.compose import interpolate as _interpolate

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
REQUIRED_SECRETS = ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env(service: dict) -> dict[str, str]:
    secrets = {name: f"<{name}>" for name in REQUIRED_SECRETS}
    return {key: _interpolate(str(value), secrets) for key, value in service["environment"].items()}


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> host path (or volume name) of each short-syntax volume."""
    pairs = (_interpolate(volume, {}).split(":")[:2] for volume in service["volumes"])
    return {target: source for source, target in pairs}


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_every_component_of_the_official_celery_shape_is_there(services):
    expected = {"postgres", "redis", "airflow-init", "catena-sandbox", *AIRFLOW_SERVICES}
    assert expected <= set(services)


@pytest.mark.parametrize(("name", "command"), AIRFLOW_SERVICES.items())
def test_airflow_components_run_the_project_image_with_a_healthcheck(services, name, command):
    service = services[name]
    assert service["build"] == "."
    assert service["image"].startswith("${CATENA_AIRFLOW_IMAGE:-catena-airflow")
    assert _command(service) == command
    assert service["healthcheck"]["test"]
    assert service["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, "airflow-init"])
def test_airflow_components_share_the_executor_databases_and_secrets(services, name):
    env = _env(services[name])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    # One value per secret, the same in every component (a JWT minted by one must verify in the others).
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "<AIRFLOW_JWT_SECRET>"
    assert env["AIRFLOW__CORE__FERNET_KEY"] == "<AIRFLOW_FERNET_KEY>"
    assert env["AIRFLOW__API__SECRET_KEY"] == "<AIRFLOW_API_SECRET_KEY>"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"


@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, "airflow-init"])
def test_the_inbox_is_its_own_postgres_database(services, name):
    env = _env(services[name])
    inbox = env["CATENA_INBOX_URL"]
    assert inbox.startswith("postgresql+psycopg2://catena:")
    assert inbox.endswith("@postgres/catena_inbox")
    assert inbox.rsplit("/", 1)[1] != env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[1]
    # The inbox is Catena's one database (it holds the operations state too); the warehouse is dlt's.
    assert {key for key in env if key.startswith("CATENA_") and key.endswith("_URL")} == {"CATENA_INBOX_URL"}
    assert env["CATENA_DLT_DESTINATION"].endswith("@postgres/catena_warehouse")


def test_the_catena_connection_defaults_to_the_sandbox_and_is_valid_json(services):
    connection = json.loads(_env(services["airflow-worker"])["AIRFLOW_CONN_CATENA_DEFAULT"])
    assert connection == {
        "conn_type": "catena",
        "host": "http://catena-sandbox:8090",
        "login": "sandbox",
        "password": "sandbox-secret",
        "extra": {"auth_url": "http://catena-sandbox:8090/realms/catena/protocol/openid-connect/token"},
    }


def test_the_catena_connection_takes_real_credentials_from_the_environment(services):
    raw = services["airflow-worker"]["environment"]["AIRFLOW_CONN_CATENA_DEFAULT"]
    env = {
        "CATENA_API_URL": "https://api.catenatelematics.com",
        "CATENA_AUTH_URL": "https://auth.catenatelematics.com/token",
        "CATENA_CLIENT_ID": "partner-id",
        "CATENA_CLIENT_SECRET": "secret",
    }
    connection = json.loads(_interpolate(raw, env))
    assert connection["host"] == "https://api.catenatelematics.com"
    assert connection["login"] == "partner-id"
    assert connection["password"] == "secret"
    assert connection["extra"]["auth_url"] == "https://auth.catenatelematics.com/token"


@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, "airflow-init"])
def test_dags_are_mounted_and_the_plugin_is_not(services, name):
    targets = _mounts(services[name])
    assert targets["/opt/airflow/dags"].endswith("/dags")
    assert "/opt/airflow/logs" in targets
    # The plugin comes from the installed package; mounting plugins/ would load it a second time.
    assert "/opt/airflow/plugins" not in targets


def test_the_api_server_serves_the_receiver_on_8080(services):
    service = services["airflow-apiserver"]
    assert "8080:8080" in service["ports"]
    assert "/api/v2/version" in " ".join(service["healthcheck"]["test"])
    assert _env(service)["AIRFLOW_VAR_CATENA_RECEIVER_URL"] == "http://airflow-apiserver:8080/catena/webhooks"


def test_the_triggerer_runs(services):
    assert _command(services["airflow-triggerer"]) == "triggerer"
    assert "TriggererJob" in " ".join(services["airflow-triggerer"]["healthcheck"]["test"])


def test_init_migrates_airflow_and_the_inbox(services):
    init = services["airflow-init"]
    script = _command(init)
    assert _env(init)["_AIRFLOW_DB_MIGRATE"] == "true"
    assert _env(init)["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert "InboxStore(inbox_url()).migrate()" in script


def test_the_init_python_snippets_run(services, tmp_path):
    """What airflow-init runs after `/entrypoint`, run here on SQLite: an import the package no longer has
    would otherwise only show once the image starts."""
    snippets = re.findall(r"python -c '([^']+)'", _command(services["airflow-init"]))
    assert snippets
    env = {**os.environ, "CATENA_INBOX_URL": f"sqlite:///{tmp_path / 'inbox.db'}"}
    for snippet in snippets:
        done = subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "inbox.db").exists()


def test_postgres_creates_the_inbox_database_with_an_init_script(services):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    mounts = _mounts(postgres)
    scripts = sorted((REPO_ROOT / mounts["/docker-entrypoint-initdb.d"]).glob("*.sh"))
    assert scripts
    text = "\n".join(script.read_text() for script in scripts)
    assert "CREATE DATABASE catena_inbox OWNER catena" in text
    assert "catena_data" not in text  # no operations database of its own: the inbox holds that state
    assert "CREATE DATABASE catena_warehouse OWNER catena" in text
    assert all(os.access(script, os.X_OK) for script in scripts)
    assert "CATENA_INBOX_PASSWORD" in postgres["environment"]
    assert "pg_isready" in postgres["healthcheck"]["test"]


def test_redis_is_the_broker(services):
    assert services["redis"]["image"].startswith("redis:7")
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]


def test_the_sandbox_is_an_optional_profile(services):
    sandbox = services["catena-sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    # The same image as Airflow's, built here too so that Compose never tries to pull it.
    assert sandbox["build"] == "." and sandbox["image"] == services["airflow-worker"]["image"]
    assert sandbox["entrypoint"] == ["catena-sandbox"]
    assert sandbox["command"][0] == "serve"
    assert "8090:8090" in sandbox["ports"]
    assert "/sandbox/health" in " ".join(sandbox["healthcheck"]["test"])
    assert all("profiles" not in services[name] for name in AIRFLOW_SERVICES)


def test_the_dockerfile_installs_requirements_and_the_project_on_the_pinned_airflow():
    dockerfile = DOCKERFILE.read_text()
    base = re.search(r"^FROM apache/airflow:(?P<version>[\d.]+)-python3\.11$", dockerfile, re.MULTILINE)
    assert base is not None
    pinned = re.search(r"^apache-airflow==(?P<version>[^\s;]+)", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert pinned is not None and pinned["version"] == base["version"] == "3.3.2"
    assert "pip install --no-cache-dir --require-hashes -r /opt/catena/requirements.txt" in dockerfile
    assert "pip install --no-cache-dir --no-deps /opt/catena /opt/catena/sandbox" in dockerfile  # two distributions
    for source in ("pyproject.toml", "plugins", "sandbox"):
        assert re.search(rf"^COPY .*\b{source}\b", dockerfile, re.MULTILINE), source


# --- the real validator -------------------------------------------------------------------------

DOCKER_COMPOSE = shutil.which("docker-compose")


def _docker_compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    if DOCKER_COMPOSE is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing in CI: run scripts/ci-deps.sh first")
        pytest.skip("docker-compose not installed (scripts/ci-deps.sh installs it)")
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "CATENA_"))}
    return subprocess.run(
        [DOCKER_COMPOSE, "-f", str(COMPOSE_FILE), *args],
        env={**clean, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


SECRETS_ENV = {name: f"test-{name.lower()}" for name in REQUIRED_SECRETS}


@pytest.mark.integration
@pytest.mark.parametrize("profile", [[], ["--profile", "sandbox"]], ids=["default", "sandbox"])
def test_docker_compose_validates_the_file(profile):
    result = _docker_compose(*profile, "config", "-q", env=SECRETS_ENV)
    assert result.returncode == 0, result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("missing", REQUIRED_SECRETS)
def test_docker_compose_refuses_to_start_without_a_shared_secret(missing):
    env = {name: value for name, value in SECRETS_ENV.items() if name != missing}
    result = _docker_compose("config", "-q", env=env)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


@pytest.mark.integration
def test_docker_compose_resolves_the_connection_json():
    result = _docker_compose("config", env={**SECRETS_ENV, "CATENA_CLIENT_SECRET": "s3cret"})
    assert result.returncode == 0, result.stderr
    worker = yaml.safe_load(result.stdout)["services"]["airflow-worker"]
    connection = json.loads(worker["environment"]["AIRFLOW_CONN_CATENA_DEFAULT"])
    assert connection["password"] == "s3cret"
    assert worker["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] == "test-airflow_jwt_secret"


@pytest.mark.integration
@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, "airflow-init"])
def test_devstack_reads_each_environment_as_docker_compose_resolves_it(name):
    """The topology test takes its environment from devstack.compose: it must read what Compose would."""
    variables = {**SECRETS_ENV, "CATENA_CLIENT_SECRET": "s3cret", "POSTGRES_PASSWORD": "pg"}
    result = _docker_compose("config", env=variables)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"][name]["environment"]
    ours = ComposeFile(COMPOSE_FILE, variables).environment(name)
    assert ours == {key: str(value) for key, value in resolved.items()}

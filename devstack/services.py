"""PostgreSQL and Redis for the tests: the machine's own servers when they answer, else private ones.

``postgres_server()`` and ``redis_server()`` yield the URL of a server to use: the one given (the
``CATENA_TEST_POSTGRES_URL`` / ``CATENA_TEST_REDIS_URL`` of the caller), else the machine's default
address when something answers there, else a private server started here on a free port in a temporary
directory (Debian's PostgreSQL binaries, ``initdb`` and ``postgres``; ``redis-server``) and removed on
exit. ``CATENA_TEST_SERVICES=private`` skips the look at the machine's servers (to try the fresh-machine
path on a machine that has them).

``claim_redis_database()`` picks a Redis database number no other test run is using, on a shared server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from devstack.processes import ChildProcess, free_port, run_as, start_process

MACHINE_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
MACHINE_REDIS_URL = "redis://127.0.0.1:6379/0"
PRIVATE = "private"
CLAIM_KEY = "catena-test:claim"


class ServiceUnavailable(RuntimeError):
    """Neither a running server nor the binaries to start a private one."""


def _mode() -> str:
    return os.environ.get("CATENA_TEST_SERVICES", "")


# --- PostgreSQL -------------------------------------------------------------------------------------


def postgres_answers(url: str, *, timeout: float = 3.0) -> bool:
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    try:
        psycopg2.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            dbname=parsed.database,
            connect_timeout=int(max(timeout, 1)),
        ).close()
    except psycopg2.Error:
        return False
    return True


def postgres_binaries() -> Path | None:
    """The directory of ``initdb`` and ``postgres``: Debian's newest ``/usr/lib/postgresql/*/bin``, else PATH."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if debian:
        return Path(debian[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("postgres", path=str(Path(initdb).parent)) else None


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as ``postgres`` (Debian's), else ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServiceUnavailable("running as root and neither a `postgres` nor a `nobody` user exists")


@dataclass
class PrivateServer:
    """A server started for a test session in a temporary directory of its own, removed when it stops."""

    directory: Path
    port: int
    process: ChildProcess

    def stop(self) -> None:
        self.process.stop(timeout=20)
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivatePostgres(PrivateServer):
    """A throw-away PostgreSQL cluster: trust auth, superuser ``postgres``, on 127.0.0.1 and a free port."""

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, *, timeout: float = 60.0) -> PrivatePostgres:
        bindir = postgres_binaries()
        if bindir is None:
            raise ServiceUnavailable(
                "no PostgreSQL server answers and no PostgreSQL binaries to start one "
                "(Debian: apt-get install postgresql; or set CATENA_TEST_POSTGRES_URL)"
            )
        user = _unprivileged_user()
        directory = Path(tempfile.mkdtemp(prefix="catena-postgres-"))
        data = directory / "data"
        try:
            if user is not None:
                shutil.chown(directory, user)
            initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            result = subprocess.run(
                [*initdb, "--locale=C", "--no-sync", "--no-instructions"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                **run_as(user),
            )
            if result.returncode != 0:
                raise ServiceUnavailable(f"initdb failed:\n{result.stdout}\n{result.stderr}")
            port = free_port()
            settings = {
                "listen_addresses": "127.0.0.1",
                "unix_socket_directories": str(directory),
                "max_connections": "300",
                # Throw-away data: durability buys nothing here.
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
            command = [str(bindir / "postgres"), "-D", str(data), "-p", str(port)]
            for name, value in settings.items():
                command += ["-c", f"{name}={value}"]
            process = start_process("postgres (private)", command, log_path=directory / "log", user=user)
            server = cls(directory=directory, port=port, process=process)
            _wait(lambda: postgres_answers(server.url, timeout=1), server.process, timeout, "PostgreSQL")
        except BaseException:
            with contextlib.suppress(NameError):
                process.stop(timeout=10)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return server

    def stop(self) -> None:
        # SIGINT is PostgreSQL's fast shutdown: clients disconnected, no waiting for them.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGINT)
        super().stop()


def postgres_server(url: str | None = None) -> contextlib.AbstractContextManager[str]:
    """The admin URL (a superuser on a database that exists) of the PostgreSQL server to use."""
    return _server(url, MACHINE_POSTGRES_URL, postgres_answers, PrivatePostgres.start)


# --- Redis ------------------------------------------------------------------------------------------


def redis_answers(url: str, *, timeout: float = 3.0) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class PrivateRedis(PrivateServer):
    """A throw-away ``redis-server`` on 127.0.0.1 and a free port, keeping nothing on disk."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, *, timeout: float = 30.0) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable(
                "no Redis server answers and no redis-server to start one "
                "(Debian: apt-get install redis-server; or set CATENA_TEST_REDIS_URL)"
            )
        directory = Path(tempfile.mkdtemp(prefix="catena-redis-"))
        port = free_port()
        command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        command += ["--dir", str(directory)]
        process = start_process("redis-server (private)", command, log_path=directory / "log")
        server = cls(directory=directory, port=port, process=process)
        try:
            _wait(lambda: redis_answers(server.url, timeout=1), process, timeout, "Redis")
        except BaseException:
            server.stop()
            raise
        return server


def redis_server(url: str | None = None) -> contextlib.AbstractContextManager[str]:
    """The URL of the Redis server to use (database 0; see ``claim_redis_database`` for one of your own)."""
    return _server(url, MACHINE_REDIS_URL, redis_answers, PrivateRedis.start)


@contextlib.contextmanager
def _server(
    url: str | None, machine_url: str, answers: Callable[[str], bool], start_private: Callable
) -> Iterator[str]:
    """``url`` if given; else ``machine_url`` if it answers (and CATENA_TEST_SERVICES is not ``private``);
    else a private server, stopped on exit."""
    if url:
        yield url
        return
    if _mode() != PRIVATE and answers(machine_url):
        yield machine_url
        return
    server = start_private()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def claim_redis_database(server_url: str, *, ttl: int = 3600) -> Iterator[str]:
    """The URL of a database of ``server_url`` that nothing else uses, emptied again on exit.

    A database is ours when it is empty and our claim key (set with NX) is the only key in it; other
    test runs on the same server skip it while the claim lives (``ttl`` seconds, should we die).
    """
    import redis

    base = redis.Redis.from_url(server_url)
    try:
        count = int(base.config_get("databases").get("databases", 16))
    except redis.RedisError:
        count = 16
    finally:
        base.close()
    token = secrets.token_hex(8)
    for number in range(count - 1, 0, -1):  # from the top: database 0 is every default
        url = _with_database(server_url, number)
        client = redis.Redis.from_url(url)
        try:
            if client.set(CLAIM_KEY, token, nx=True, ex=ttl) and client.dbsize() == 1:
                try:
                    yield url
                finally:
                    client.flushdb()
                return
            if client.get(CLAIM_KEY) == token.encode():
                client.delete(CLAIM_KEY)  # ours, but other keys were there: leave it to its owner
        finally:
            client.close()
    raise ServiceUnavailable(f"every database of {server_url} is in use")


def _with_database(url: str, number: int) -> str:
    return urlsplit(url)._replace(path=f"/{number}").geturl()


def _wait(answers, process: ChildProcess, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not answers():
        if not process.running():
            raise process.failure(f"{what} exited with {process.popen.returncode} before it accepted connections")
        if time.monotonic() > deadline:
            raise process.failure(f"{what} did not accept connections within {timeout:.0f}s")
        time.sleep(0.2)

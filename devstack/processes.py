"""Child processes with log files, stopped as whole process groups, and HTTP readiness polling."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import requests


class ProcessFailed(RuntimeError):
    """A child process died, or never became ready; the message ends with the tail of its log."""


@dataclass
class ChildProcess:
    """A process started in a session of its own, so that stopping it also stops its children."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    _log_file: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, message: str) -> ProcessFailed:
        return ProcessFailed(f"{self.name}: {message}\n--- last lines of {self.log_path} ---\n{self.log_tail()}")

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM the process group, give it ``timeout`` seconds to exit, then SIGKILL what is left."""
        stop_group(self.popen.pid, timeout=timeout, on_poll=self.popen.poll)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the process group at once: no shutdown hook, no flush, connections dropped as in a crash."""
        _signal_group(self.popen.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


class RestartableProcess:
    """A server that is started, stopped, killed and started again (reliability tests): its current child.

    Subclasses set ``self.child`` in their ``start()``; every start appends to the same ``log_path``.
    """

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.child: ChildProcess | None = None

    @property
    def process(self) -> subprocess.Popen | None:
        return self.child.popen if self.child is not None else None

    def running(self) -> bool:
        return self.child is not None and self.child.running()

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, open connections dropped as in a crash."""
        if self.child is not None:
            self.child.kill()

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.child is not None:
            self.child.stop(timeout=timeout)

    def log(self) -> str:
        """The whole log, over every start."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def stop_group(pgid: int, *, timeout: float = 20.0, on_poll: Callable[[], object] | None = None) -> None:
    """SIGTERM a process group, wait up to ``timeout`` seconds for all of it to exit, then SIGKILL the rest.

    Works for groups this process did not start (a demo left running by an earlier ``KEEP=1``).
    """
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    # Grandchildren (airflow standalone's components) may outlive the leader: wait for the whole group.
    while group_alive(pgid) and time.monotonic() < deadline:
        if on_poll is not None:
            on_poll()  # reaps our own child, so that it does not linger as a zombie
        time.sleep(0.2)
    _signal_group(pgid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group; orphans' zombies wait on init to reap them."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # Fields after the parenthesised command name: state, ppid, pgrp, ...
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def console_script(name: str, *, module: str, bin_dir: Path | None = None) -> list[str]:
    """The command for an installed console script, wherever this Python was installed from.

    ``bin_dir/name`` (default: next to ``sys.executable``, so an un-activated venv works), else ``name``
    on PATH, else ``python -m module``.
    """
    script = (bin_dir or Path(sys.executable).parent) / name
    if script.exists():
        return [str(script)]
    found = shutil.which(name)
    return [found] if found else [sys.executable, "-m", module]


def run_as(user: str | None) -> dict:
    """``subprocess`` keyword arguments that run a child as ``user`` with its primary group only (None: as we are)."""
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}


def start_process(
    name: str,
    command: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> ChildProcess:
    """Start ``command`` with stdout and stderr appended to ``log_path``, in a new process group.

    ``user``: run as that user (with its primary group only), e.g. a server that refuses to run as root.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    try:
        popen = subprocess.Popen(
            list(command),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            **run_as(user),
        )
    except OSError:
        log_file.close()
        raise
    return ChildProcess(name=name, popen=popen, log_path=log_path, _log_file=log_file)


def wait_for_http(
    url: str,
    *,
    timeout: float = 60.0,
    process: ChildProcess | Sequence[ChildProcess] | None = None,
    ready: Callable[[requests.Response], bool] | None = None,
    headers: Mapping[str, str] | None = None,
    interval: float = 0.5,
) -> requests.Response:
    """Poll ``url`` until ``ready(response)`` (default: any status below 500); fail early if ``process``
    (or any of several processes that must all stay up) died."""
    is_ready = ready or (lambda response: response.status_code < 500)
    watched = [process] if isinstance(process, ChildProcess) else list(process or ())
    deadline = time.monotonic() + timeout
    last: str = "no answer"
    while True:
        for child in watched:
            check_running(child, f"before {url} was ready")
        try:
            response = requests.get(url, headers=dict(headers or {}), timeout=5)
            if is_ready(response):
                return response
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        if time.monotonic() >= deadline:
            message = f"{url} was not ready within {timeout:.0f}s (last: {last})"
            raise watched[0].failure(message) if len(watched) == 1 else TimeoutError(message)
        time.sleep(interval)


def check_running(process: ChildProcess, when: str) -> None:
    """Raise ``ProcessFailed`` (with the tail of its log) if ``process`` has exited."""
    if not process.running():
        raise process.failure(f"exited with {process.popen.returncode} {when}")


def stop_all(processes: Sequence[ChildProcess], *, timeout: float = 20.0) -> None:
    """SIGTERM every process group at once, give them ``timeout`` seconds together, then SIGKILL the rest."""
    for process in processes:
        _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.stop(timeout=max(deadline - time.monotonic(), 0.0))


def start_http_process(
    name: str,
    command: Sequence[str],
    *,
    log_path: Path,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    ready: Callable[[requests.Response], bool] | None = None,
    interval: float = 0.5,
) -> ChildProcess:
    """``start_process``, then ``wait_for_http(ready_url)``; a process that never gets ready is stopped."""
    process = start_process(name, command, log_path=log_path, env=env)
    try:
        wait_for_http(ready_url, timeout=timeout, process=process, ready=ready, interval=interval)
    except BaseException:
        process.stop(timeout=10)
        raise
    return process


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too: a port in TIME_WAIT is free for them, a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServiceSettings(Protocol):
    @property
    def base_url(self) -> str: ...


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


class Service(Generic[SettingsT]):
    """A server the stack runs as one child process: ``start()`` it, ``stop()`` it, or use it in ``with``."""

    def __init__(self, settings: SettingsT, *, stop_timeout: float = 20.0) -> None:
        self.settings = settings
        self.stop_timeout = stop_timeout  # grace after SIGTERM when leaving a ``with`` block
        self.process: ChildProcess | None = None

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def start(self) -> ChildProcess:
        raise NotImplementedError

    def stop(self, *, timeout: float = 20.0) -> None:
        """Stop the process group: ``timeout`` seconds of grace after SIGTERM, then SIGKILL."""
        if self.process is not None:
            self.process.stop(timeout=timeout)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(timeout=self.stop_timeout)

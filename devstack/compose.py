"""docker-compose.yaml as the one source of truth for running its topology as local processes.

``ComposeFile`` reads the file as Compose would for what a local run needs: each service's environment
(YAML merge keys resolved, ``${VAR...}`` interpolated from given values) and command. ``Localization``
is the one place where the containers' network becomes this machine's: every URL in a value whose host
is a compose service is rewritten to the local address standing in for that service's port (and, for
databases, to a local database), and a URL naming a service with no local stand-in is an error.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class ComposeError(ValueError):
    """The compose file asks for something a local run cannot provide (a required variable, an address)."""


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``
    and ``${VAR?error}`` (with ``:``, an empty value counts as unset)."""

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        value = variables.get(name)
        unset = value is None or (op.startswith(":") and value == "")
        if not unset:
            return value
        if op.endswith("?"):
            raise ComposeError(f"{name}: {arg or 'required variable is not set'}")
        return arg if op.endswith("-") else ""

    return _VARIABLE.sub(replace, value)


class ComposeFile:
    """A parsed compose file; values are interpolated from ``variables`` (what ``.env`` would hold)."""

    def __init__(self, path: Path = COMPOSE_FILE, variables: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.data: dict[str, Any] = yaml.safe_load(path.read_text())
        self.variables = dict(variables or {})

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.data["services"]

    def service(self, name: str) -> dict[str, Any]:
        try:
            return self.services[name]
        except KeyError:
            raise ComposeError(f"{self.path.name} has no service {name!r}") from None

    def environment(self, name: str) -> dict[str, str]:
        """The service's environment, as its container gets it."""
        environment = self.service(name).get("environment") or {}
        if isinstance(environment, list):  # the `- KEY=value` form
            environment = dict(item.split("=", 1) for item in environment)
        return {key: interpolate(_scalar(value), self.variables) for key, value in environment.items()}

    def command(self, name: str) -> list[str]:
        """The service's command as arguments (a string is split as a shell would)."""
        command = self.service(name).get("command") or []
        words = shlex.split(command) if isinstance(command, str) else [str(word) for word in command]
        return [interpolate(word, self.variables) for word in words]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Endpoint:
    """Where one port of a compose service is found locally.

    ``userinfo`` replaces the URL's ``user:password`` (None keeps it); ``paths`` maps the URL's path
    (a database name, a Redis database number) to the local one, and a path it does not list is an error.
    """

    host: str
    port: int
    userinfo: str | None = None
    paths: Mapping[str, str] | None = None


# A URL with an authority: scheme://[userinfo@]host[:port][/path], ending at a quote, space or brace.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:(?P<userinfo>[^@/\s\"'{}]*)@)?"
    r"(?P<host>[A-Za-z0-9_.-]+)(?::(?P<port>\d+))?(?P<path>/[^\s\"'{}?#]*)?"
)
_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "http": 80, "https": 443}


def _default_port(scheme: str) -> int | None:
    """``postgresql+psycopg2`` and ``db+postgresql`` -> 5432: the first part of the scheme with a known port."""
    return next((_DEFAULT_PORTS[part] for part in scheme.lower().split("+") if part in _DEFAULT_PORTS), None)


@dataclass(frozen=True)
class Localization:
    """The compose network on this machine: ``(service, container port) -> Endpoint``."""

    endpoints: Mapping[tuple[str, int], Endpoint]
    services: frozenset[str] = field(default_factory=frozenset)  # every compose service name

    def url(self, match: re.Match) -> str:
        host = match["host"]
        if host not in self.services:
            return match[0]  # not a compose service: an outside address, left alone
        scheme = match["scheme"]
        port = int(match["port"]) if match["port"] else _default_port(scheme)
        endpoint = self.endpoints.get((host, port))
        if endpoint is None:
            raise ComposeError(f"no local stand-in for {host}:{port} (in {match[0]})")
        path = match["path"] or ""
        if endpoint.paths is not None:
            name = path.lstrip("/")
            if name not in endpoint.paths:
                raise ComposeError(f"no local stand-in for {name!r} on {host}:{port} (in {match[0]})")
            path = f"/{endpoint.paths[name]}"
        userinfo = match["userinfo"] if endpoint.userinfo is None else endpoint.userinfo
        credentials = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{credentials}{endpoint.host}:{endpoint.port}{path}"

    def value(self, value: str) -> str:
        """``value`` with every URL addressed to a compose service rewritten to its local stand-in."""
        return _URL.sub(self.url, value)

    def environment(self, environment: Mapping[str, str]) -> dict[str, str]:
        return {key: self.value(value) for key, value in environment.items()}

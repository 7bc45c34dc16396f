"""Fault tests: real sandbox, real receiver processes, real PostgreSQL; Catena's side is the sandbox."""

from __future__ import annotations

from tests.integration.reliability.helpers import catena_client
from tests.integration.reliability.processes import module_processes, processes

__all__ = ["catena_client", "module_processes", "processes"]

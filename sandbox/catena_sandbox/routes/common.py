"""Query parameters shared by Catena's list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from catena_sandbox.pagination import DEFAULT_SIZE
from catena_sandbox.runtime import Sandbox, get_sandbox

CursorParam = Annotated[str | None, Query()]
SizeParam = Annotated[int, Query()]
ListParam = Annotated[list[str] | None, Query(max_length=100)]
SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
DEFAULT_PAGE_SIZE = DEFAULT_SIZE

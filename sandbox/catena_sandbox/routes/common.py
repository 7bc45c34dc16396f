"""Parameter types shared by Catena's list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from catena_sandbox.runtime import Sandbox, get_sandbox

CursorParam = Annotated[str | None, Query()]
ListParam = Annotated[list[str] | None, Query(max_length=100)]
SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]

"""An async "eventually" for tests of the poller and its listener (a guard, never a speed check)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest


async def until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Return once ``condition()`` holds; fail the test with ``what`` if it never does."""

    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        pytest.fail(f"never happened: {what}")

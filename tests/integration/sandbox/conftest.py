from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.sandbox.receiver import Receiver


@pytest.fixture(scope="session")
def _tuned_sandbox(sandbox_factory):
    """One more sandbox process for tests that need other flags: 1 s tokens, 0.2 s delivery timeout."""
    return sandbox_factory("--token-ttl", "1", "--delivery-timeout", "0.2")


@pytest.fixture
def tuned_sandbox(_tuned_sandbox):
    _tuned_sandbox.reset()
    return _tuned_sandbox


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()

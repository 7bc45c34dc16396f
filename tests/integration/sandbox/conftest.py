from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.sandbox.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()

from __future__ import annotations

import pytest

from catena_airflow.client import CatenaClient
from tests.unit.airflow_layer import CATENA_URL, TOKEN_URL, catena_api, inbox, mock_token

__all__ = ["catena_api", "inbox"]


@pytest.fixture
def client(requests_mock) -> CatenaClient:
    """A real CatenaClient whose Catena is faked at the HTTP boundary (token endpoint mocked)."""
    mock_token(requests_mock)
    return CatenaClient(client_id="id", client_secret="secret", api_url=CATENA_URL, auth_url=TOKEN_URL, max_retries=1)

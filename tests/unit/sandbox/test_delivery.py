from __future__ import annotations

import json
from pathlib import Path

import pytest

from catena_sandbox.delivery import envelope_bytes, sign
from catena_sandbox.state import Message

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "data" / "catena-webhook-vectors.json").read_text())


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["name"] for v in VECTORS["vectors"]])
def test_signature_matches_the_published_vectors(vector: dict) -> None:
    body = vector["uncompressed_body"].encode()
    assert sign(vector["secret"], vector["x_catena_timestamp"], body) == vector["x_catena_signature"]


def test_envelope_carries_the_attempt_and_keeps_the_event_id() -> None:
    message = Message(
        event_id="019d0000-0000-7000-8000-0000000000aa",
        webhook_id="019d0000-0000-7000-8000-000000000001",
        event_name="invitation.declined",
        data=[{"decline_reason": "Not ready yet \u2014 try Q3"}],
        timestamp="2026-03-01T12:01:00.000000Z",
    )
    first, second = json.loads(envelope_bytes(message, 1)), json.loads(envelope_bytes(message, 2))
    assert first["id"] == second["id"] == message.event_id
    assert (first["delivery_attempt"], second["delivery_attempt"]) == (1, 2)
    assert set(first) == {"version", "event_name", "webhook_id", "timestamp", "id", "delivery_attempt", "data"}
    assert "\u2014".encode() in envelope_bytes(message, 1)  # UTF-8 as is, the signature covers these bytes

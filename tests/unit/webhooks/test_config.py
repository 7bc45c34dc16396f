from __future__ import annotations

from catena_airflow.webhooks.config import CATENA_DELIVERY_TIMEOUT_SECONDS, ReceiverSettings


def test_a_stalled_commit_is_answered_before_catena_gives_up():
    """Catena counts a delivery as failed after 3 s: the receiver's 503 must reach it before then (with
    half a second for the request's other steps and the network), never a 202 Catena already gave up on."""
    assert CATENA_DELIVERY_TIMEOUT_SECONDS == 3.0
    assert ReceiverSettings().commit_timeout_seconds <= CATENA_DELIVERY_TIMEOUT_SECONDS - 0.5

"""Webhook subscription set-up and health check against a faked Catena and a real inbox."""

from __future__ import annotations

import uuid

import pytest

from catena_airflow.operators.webhooks import (
    DEFAULT_EVENT_FAMILIES,
    CatenaEnsureWebhookSubscriptionsOperator,
    CatenaWebhookHealthCheckOperator,
    url_matches,
)
from tests.unit.airflow_layer import CATENA_URL, page

WEBHOOKS = f"{CATENA_URL}/v2/notifications/webhooks"
RECEIVER = "https://airflow.partner.test/catena/webhooks"
# Catena's catch-all expansion (catena-api.md §3.8).
ACTIONS = {
    "invitation": ["created", "sent", "viewed", "accepted", "declined", "expired", "deleted"],
    "share_agreement": ["created", "updated", "deleted"],
    "connection": ["created", "staled"],
    "fleet_connection": ["created"],
    "execution": ["created", "staled", "failed"],
    "schedule": ["deactivated"],
}


def subscription(event_name: str, *, url: str = "https://airflow.partner.test/*****", status: str = "active") -> dict:
    return {"id": str(uuid.uuid4()), "url": url, "event_name": event_name, "status": status, "secret": "*****"}


class FakeSubscriptions:
    """Catena's subscription list, as a requests_mock callback pair (create expands catch-alls)."""

    def __init__(self, requests_mock, existing: list[dict] | None = None) -> None:
        self.items = list(existing or [])
        self.created: list[dict] = []
        requests_mock.get(WEBHOOKS, json=lambda request, context: page(self.items))
        requests_mock.post(WEBHOOKS, json=self.create)

    def create(self, request, context):
        body = request.json()
        family, _, action = body["event_name"].partition(".")
        actions = ACTIONS[family] if action == "*" else [action]
        made = [
            {**subscription(f"{family}.{action}"), "url": body["url"], "secret": body["secret"]} for action in actions
        ]
        self.created.append(body)
        self.items += [{**m, "secret": "*****", "url": "https://airflow.partner.test/*****"} for m in made]
        return made


def ensure(**kwargs) -> CatenaEnsureWebhookSubscriptionsOperator:
    return CatenaEnsureWebhookSubscriptionsOperator(task_id="ensure_subscriptions", url=RECEIVER, **kwargs)


def test_url_matching_understands_catena_masking():
    assert url_matches(RECEIVER, RECEIVER)
    assert url_matches("https://airflow.partner.test/*****", RECEIVER)
    assert not url_matches("https://other.test/*****", RECEIVER)
    assert not url_matches("https://*****", RECEIVER)


def test_creates_every_family_once_and_stores_the_secrets(catena_api, inbox):
    fake = FakeSubscriptions(catena_api)
    result = ensure().execute({})
    assert result["created"] == list(DEFAULT_EVENT_FAMILIES)
    assert [body["event_name"] for body in fake.created] == list(DEFAULT_EVENT_FAMILIES)
    assert {body["url"] for body in fake.created} == {RECEIVER}
    stored = inbox.subscription_secrets()
    assert len(stored) == len(fake.items)
    first = fake.created[0]["secret"]
    assert len(first) >= 12 and first in stored.values()

    again = ensure().execute({})  # idempotent: lists first, creates nothing
    assert again["created"] == []
    assert again["present"] == list(DEFAULT_EVENT_FAMILIES)
    assert len(fake.created) == len(DEFAULT_EVENT_FAMILIES)


def test_a_subscription_with_an_unknown_secret_is_rotated(catena_api, inbox):
    existing = subscription("invitation.created")
    FakeSubscriptions(catena_api, [existing])
    patch = catena_api.patch(f"{WEBHOOKS}/{existing['id']}", json=existing)
    result = ensure(event_families=["invitation.*"]).execute({})
    assert (result["created"], result["present"]) == ([], ["invitation.*"])
    assert inbox.subscription_secret(existing["id"]) == patch.last_request.json()["secret"]


def test_a_rotated_secret_is_accepted_by_the_inbox_before_catena_signs_with_it(catena_api, inbox):
    existing = subscription("invitation.created")
    FakeSubscriptions(catena_api, [existing])
    accepted_when_sent: list[bool] = []

    def patch_reply(request, context):
        # The moment Catena switches: a delivery signed with the new secret must already verify.
        accepted_when_sent.append(request.json()["secret"] in inbox.subscription_secret_candidates(existing["id"]))
        return existing

    catena_api.patch(f"{WEBHOOKS}/{existing['id']}", json=patch_reply)
    ensure(event_families=["invitation.*"]).execute({})
    assert accepted_when_sent == [True]


def test_rotate_secrets_gives_our_subscriptions_new_secrets_and_keeps_the_old_for_a_grace(catena_api, inbox):
    fake = FakeSubscriptions(catena_api)
    ensure(event_families=["schedule.*"]).execute({})
    (sub,) = fake.items
    old = inbox.subscription_secret(sub["id"])
    patch = catena_api.patch(f"{WEBHOOKS}/{sub['id']}", json=sub)

    ensure(event_families=["schedule.*"]).execute({})  # no rotation unless asked
    assert not patch.called
    ensure(event_families=["schedule.*"], rotate_secrets="True").execute({})  # as rendered from the param

    new = patch.last_request.json()["secret"]
    assert new != old
    assert inbox.subscription_secret(sub["id"]) == new
    assert set(inbox.subscription_secret_candidates(sub["id"])) == {new, old}


def test_a_rotation_catena_refuses_leaves_no_extra_secret(catena_api, inbox):
    existing = subscription("invitation.created")
    FakeSubscriptions(catena_api, [existing])
    catena_api.patch(f"{WEBHOOKS}/{existing['id']}", status_code=400, json={"detail": "no"})
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises; the inbox is what is checked
        ensure(event_families=["invitation.*"]).execute({})
    assert inbox.subscription_secret_candidates(existing["id"]) == []


def test_a_missing_required_event_is_subscribed_on_its_own(catena_api, inbox):
    fake = FakeSubscriptions(catena_api)
    ensure().execute({})
    fake.items = [s for s in fake.items if s["event_name"] != "fleet_connection.created"]  # deleted at Catena
    fake.items.append(subscription("fleet_connection.updated"))  # the family is still there
    inbox.save_subscription_secret(fake.items[-1]["id"], "x" * 16)
    result = ensure().execute({})
    assert result["repaired"] == ["fleet_connection.created"]
    assert fake.created[-1]["event_name"] == "fleet_connection.created"
    assert ensure().execute({})["repaired"] == []


def callback_subscriptions(fleet_ref: str = "acme-7") -> list[dict]:
    """What Catena creates for an invitation whose callback_url is our receiver: filtered by its ref."""
    filters = {"fleet_refs": [fleet_ref], "fleet_ids": None}
    return [
        {**subscription(f"{family}.{action}"), "filters": filters}
        for family in ("invitation", "share_agreement", "connection", "fleet_connection")
        for action in ACTIONS[family]
    ]


def test_setup_next_to_filtered_subscriptions_creates_the_org_wide_ones_and_leaves_those_alone(
    catena_api, inbox, capsys
):
    callbacks = callback_subscriptions()
    fake = FakeSubscriptions(catena_api, callbacks)
    patches = catena_api.patch(f"{WEBHOOKS}/{callbacks[0]['id']}", json={})

    result = ensure().execute({})

    assert sorted(result["created"]) == sorted(DEFAULT_EVENT_FAMILIES)  # none taken for a family
    assert [body["event_name"] for body in fake.created] == list(DEFAULT_EVENT_FAMILIES)
    assert all(body.get("filters") is None for body in fake.created)
    assert not patches.called  # never rotated
    assert not {c["id"] for c in callbacks} & {row["webhook_id"] for row in inbox.subscriptions()}
    assert "left alone" in capsys.readouterr().out
    assert ensure().execute({})["created"] == []  # the org-wide ones now count; still nothing else


@pytest.mark.parametrize("status", ["stale", "paused"])
def test_health_check_reactivates_and_replays_the_dlq(catena_api, inbox, status, capsys):
    sick = subscription("fleet_connection.created", status=status)
    healthy = subscription("invitation.created")
    inbox.save_subscription_secret(sick["id"], "s" * 16, event_name=sick["event_name"], url=RECEIVER)
    FakeSubscriptions(catena_api, [sick, healthy, subscription("vehicle.added", url="https://elsewhere.test/*****")])
    catena_api.get(f"{WEBHOOKS}/{sick['id']}/metrics", json={"webhook_id": sick["id"], "dlq_count": 4})
    catena_api.get(f"{WEBHOOKS}/{healthy['id']}/metrics", json={"webhook_id": healthy["id"], "dlq_count": 0})
    activate = catena_api.post(f"{WEBHOOKS}/{sick['id']}/activate", json={**sick, "status": "active"})
    replay = catena_api.post(f"{WEBHOOKS}/{sick['id']}/replay", json={}, status_code=202)
    result = CatenaWebhookHealthCheckOperator(task_id="health", url=RECEIVER).execute({})
    assert activate.called and replay.called
    assert result["reactivated"] == [sick["id"]]
    assert result["replayed"] == {sick["id"]: 4}
    assert result["checked"] == 2  # the subscription to another URL is not ours
    assert "4 message(s) came back" in capsys.readouterr().out

"""No secret anywhere an operator can read it, after a whole deployment ran end to end.

``catena_setup`` and onboarding runs under ``dag.test()`` against the real sandbox, receiver process and
PostgreSQL inbox (the DAG tests' deployment), then every place a secret could surface is collected and
searched: task and process logs, XComs, rendered templates, DAG-run conf, the dashboard's API and page,
the inbox's stored bodies. The secrets searched for are the real ones of the run: the client secret, the
signing secrets (partner default and per subscription, read from the inbox), access tokens (any JWT), and
the fleet's pre-registration tokens as Catena delivered them (captured by a second, test-owned receiver).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from airflow.models.dagrun import DagRun
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from sqlalchemy import select

from tests.integration.dags.conftest import make_deployment, task_states
from tests.integration.sandbox.receiver import Receiver

__all__ = ["make_deployment"]

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(300)]

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
PREREG = re.compile(r"sandbox-prereg-[A-Za-z0-9_-]{10,}")  # the sandbox's pre-registration token format
DASHBOARD = (
    "/catena/api/fleets",
    "/catena/api/funnel",
    "/catena/api/alerts",
    "/catena/api/webhooks/health",
    "/catena/api/fleets/stuck",
    "/catena/api/config",
    "/catena/ui",
)


@pytest.fixture
def spy(sandbox):
    """A test-owned receiver subscribed to invitation.accepted: it sees the pre-registration tokens."""
    receiver = Receiver()
    receiver.default_secret = "spy-secret-0123456789"
    response = sandbox.api(
        "POST",
        "/v2/notifications/webhooks",
        json={"url": receiver.url, "event_name": "invitation.accepted", "secret": receiver.default_secret},
    )
    response.raise_for_status()
    yield receiver
    receiver.close()


def _airflow_records(dag_ids: tuple[str, ...]) -> str:
    """XComs, rendered template fields and run confs of these DAGs, as text."""
    with create_session() as session:
        xcoms = session.scalars(select(XComModel).where(XComModel.dag_id.in_(dag_ids))).all()
        rendered = session.scalars(
            select(RenderedTaskInstanceFields).where(RenderedTaskInstanceFields.dag_id.in_(dag_ids))
        ).all()
        runs = session.scalars(select(DagRun).where(DagRun.dag_id.in_(dag_ids))).all()
        parts = [repr(XComModel.deserialize_value(x)) for x in xcoms]
        parts += [json.dumps(r.rendered_fields, default=str) for r in rendered]
        parts += [json.dumps(r.conf, default=str) for r in runs]
        assert xcoms and rendered and runs  # the search has material to search
    return "\n".join(parts)


def test_an_end_to_end_run_leaks_no_secret(
    sandbox, make_deployment, spy, capfd, caplog, airflow_client, auth_headers, monkeypatch
):
    caplog.set_level("DEBUG")
    deployment = make_deployment(sandbox)  # runs catena_setup: subscriptions and their secrets
    happy = deployment.run("catena_fleet_onboarding", {"fleet_ref": "leak-happy", "fleet_name": "Leak Happy"})
    declined = deployment.run("catena_fleet_onboarding", {"fleet_ref": "decline-leak"})
    assert happy.state == DagRunState.SUCCESS, task_states(happy)
    assert declined.state == DagRunState.FAILED
    spy.wait_for_events("invitation.accepted")

    prereg = {
        record[key]
        for envelope in spy.events("invitation.accepted")
        for record in envelope["data"]
        for key in ("pre_registration_access_token", "pre_registration_refresh_token")
        if record.get(key)
    }
    subscription_secrets = set(deployment.inbox.subscription_secrets().values())
    assert prereg and subscription_secrets
    secrets = {sandbox.client_secret, sandbox.token(), *subscription_secrets, *prereg}

    monkeypatch.setenv("CATENA_INBOX_URL", deployment.inbox.engine.url.render_as_string(hide_password=False))
    dashboard = []
    for path in DASHBOARD:
        response = airflow_client.get(path, headers=auth_headers)
        assert response.status_code == 200, (path, response.text[:300])
        dashboard.append(response.text)
    assert "leak-happy" in "".join(dashboard)  # the dashboard shows the run's fleets...

    captured = capfd.readouterr()
    places = {
        "task and test logs": captured.out + captured.err + caplog.text,
        "receiver process log": Path(deployment.receiver.log_path).read_text(errors="replace"),
        "XComs, rendered templates, DAG-run conf": _airflow_records(("catena_setup", "catena_fleet_onboarding")),
        "dashboard API and page": "\n".join(dashboard),
        "inbox event bodies": "\n".join(e.body for e in deployment.inbox.events_after(0, limit=10_000)),
    }
    assert "leak-happy" in places["task and test logs"]  # ...and the logs hold the run's output
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}...) appears in the {place}"
        assert not JWT.search(text), f"an access token appears in the {place}"
        assert not PREREG.search(text), f"a pre-registration token appears in the {place}"

"""Two receivers under attack: the standalone ``catena-webhooks serve`` process (PostgreSQL inbox) and the
router mounted in Airflow's real api-server app (``create_app``), each with an inbox the test can audit."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.fixtures.airflow import mounted_receiver
from tests.integration.reliability.inbox_probe import stored_event_ids
from tests.integration.reliability.processes import ProcessFactory, module_processes, processes
from tests.integration.security.signer import body_of, envelope, signed

__all__ = ["module_processes", "processes"]

STANDALONE_SECRET = "standalone-secret-7Qw9zX"
PLUGIN_SECRET = "plugin-subscription-secret-Zr4k"


@dataclass
class Target:
    """One receiver: how to post to it, which inbox it writes, and the secret it verifies with."""

    name: str
    post: Callable[..., tuple[int, bytes]]
    inbox_url: str
    secret: str
    webhook_id: str

    def deliver(self, env: dict[str, Any], **kwargs: Any) -> tuple[int, bytes]:
        content, headers = signed(body_of(env), self.secret, webhook_id=self.webhook_id, **kwargs)
        return self.post(content, headers)

    def stored(self) -> set[str]:
        return stored_event_ids(self.inbox_url)


@pytest.fixture(scope="module")
def standalone_target(module_processes: ProcessFactory, postgres_database_factory) -> Iterator[Target]:
    inbox_url = postgres_database_factory()
    receiver = module_processes.receiver(inbox_url=inbox_url, secrets=STANDALONE_SECRET)
    http = requests.Session()

    def post(content: Any, headers: dict[str, str], *, method: str = "POST") -> tuple[int, bytes]:
        response = http.request(method, receiver.url, data=content, headers=headers, timeout=30)
        return response.status_code, response.content

    target = Target("standalone", post, inbox_url, STANDALONE_SECRET, "019d0000-0000-7000-8000-00000000beef")
    status, _ = target.deliver(envelope())  # first delivery migrates the inbox
    assert status == 202, receiver.log()
    yield target
    http.close()


@pytest.fixture(scope="module")
def plugin_target(airflow_app, airflow_client, tmp_path_factory) -> Target:
    """The api-server's receiver verifies with a subscription secret stored in its inbox (as the setup
    DAG leaves it); the webhook id is this module's own, so other tests' secrets do not interfere."""
    receiver = mounted_receiver(airflow_app)
    with pytest.MonkeyPatch.context() as patch:
        # Used only if no earlier test made the receiver create its store (it is created on first use).
        patch.setenv("CATENA_INBOX_URL", f"sqlite:///{tmp_path_factory.mktemp('plugin-inbox') / 'inbox.db'}")
        store = receiver.store()
    webhook_id = str(uuid.uuid4())
    store.save_subscription_secret(webhook_id, PLUGIN_SECRET, event_name="vehicle.added")

    def post(content: Any, headers: dict[str, str], *, method: str = "POST") -> tuple[int, bytes]:
        response = airflow_client.request(method, "/catena/webhooks", content=content, headers=headers)
        return response.status_code, response.content

    target = Target("plugin", post, store.engine.url.render_as_string(hide_password=False), PLUGIN_SECRET, webhook_id)
    # The receiver reads stored secrets for an unknown webhook id at most once a second.
    deadline = time.monotonic() + 10
    while (status := target.deliver(envelope())[0]) != 202:
        assert status == 401 and time.monotonic() < deadline, status
        time.sleep(0.25)
    return target


@pytest.fixture(params=["standalone", "plugin"])
def target(request) -> Target:
    return request.getfixturevalue(f"{request.param}_target")


@pytest.fixture(scope="session")
def serialized_dags(airflow_db) -> None:
    """The repository's DAGs parsed into the session's metadata DB, as the dag processor would.

    In this process, not with ``airflow dags reserialize``: a subprocess would encrypt trigger kwargs
    with a Fernet key of its own, which the session's later ``dag.test()`` runs cannot read.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        assert bag.import_errors == {}, bag.import_errors
        sync_bag_to_db(bag, bundle.name, bundle.version)

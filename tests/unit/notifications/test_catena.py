from __future__ import annotations

import pytest
from airflow.sdk import BaseNotifier

from catena_airflow.notifications.catena import CatenaAlert, CatenaLogNotifier, load_notifier, send_alert


def test_log_notifier_renders_the_alert(caplog):
    notifier = CatenaLogNotifier()
    alert = CatenaAlert(kind="k", title="Fleet acme", text="connection stale", severity="error")
    with caplog.at_level("WARNING", logger="catena_airflow.notifications.catena"):
        send_alert(notifier, {}, alert)
        send_alert(notifier, {}, CatenaAlert(kind="k", title="Fleet other", text="second"))
    assert "[error] Fleet acme: connection stale" in caplog.text
    assert "[warning] Fleet other: second" in caplog.text  # the template was not consumed by the first alert
    assert caplog.records[0].levelname == "ERROR"


def test_load_notifier_by_dotted_path():
    notifier = load_notifier("catena_airflow.notifications.catena.CatenaLogNotifier", {"message": "x"})
    assert isinstance(notifier, BaseNotifier)
    assert notifier.message == "x"
    assert isinstance(load_notifier(None), CatenaLogNotifier)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("NoDots", ValueError),
        ("catena_airflow.notifications.catena.CatenaAlert", TypeError),
        ("json.nothing", TypeError),
    ],
)
def test_load_notifier_refuses_what_is_not_a_notifier(path, error):
    with pytest.raises(error):
        load_notifier(path)

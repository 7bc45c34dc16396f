from __future__ import annotations

from pathlib import Path

from catena_airflow.inbox.settings import inbox_url_from_env


def test_explicit_url_wins(monkeypatch):
    monkeypatch.setenv("CATENA_INBOX_URL", "postgresql+psycopg2://u@db/inbox")
    assert inbox_url_from_env() == "postgresql+psycopg2://u@db/inbox"


def test_default_is_an_absolute_sqlite_file_under_airflow_home(monkeypatch, tmp_path):
    monkeypatch.delenv("CATENA_INBOX_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIRFLOW_HOME", "relative-home")
    url = inbox_url_from_env()
    path = Path(url.removeprefix("sqlite:///"))
    assert path.is_absolute() and path == (tmp_path / "relative-home" / "catena_inbox.db")

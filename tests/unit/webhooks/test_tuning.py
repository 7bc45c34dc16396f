from __future__ import annotations

import gc

import pytest

from catena_airflow.webhooks.tuning import GC_GEN0_THRESHOLD, tune_gc_if_requested


@pytest.fixture
def restored_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CATENA_TUNE_GC", "true"),
        ("CATENA_TUNE_GC", "1"),
        ("CATENA_TUNE_GC", "YES"),
        ("AIRFLOW__CATENA__TUNE_GC", " on "),
    ],
)
def test_tunes_when_asked(monkeypatch, restored_gc, variable, value):
    monkeypatch.setenv(variable, value)
    assert tune_gc_if_requested()
    assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == GC_GEN0_THRESHOLD


@pytest.mark.parametrize("value", [None, "", "false", "0", "no"])
def test_leaves_the_host_alone_by_default(monkeypatch, restored_gc, value):
    if value is None:
        monkeypatch.delenv("CATENA_TUNE_GC", raising=False)
    else:
        monkeypatch.setenv("CATENA_TUNE_GC", value)
    before = (gc.get_freeze_count(), gc.get_threshold())
    assert not tune_gc_if_requested()
    assert (gc.get_freeze_count(), gc.get_threshold()) == before

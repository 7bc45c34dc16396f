from __future__ import annotations

import gc

import pytest

from catena_airflow.webhooks.tuning import GC_GEN0_THRESHOLD, TUNE_GC_ENV, tune_gc_if_requested


@pytest.fixture
def restored_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.parametrize("value", ["true", "1", "YES", " on "])
def test_tunes_when_asked(monkeypatch, restored_gc, value):
    monkeypatch.setenv(TUNE_GC_ENV, value)
    assert tune_gc_if_requested()
    assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == GC_GEN0_THRESHOLD


@pytest.mark.parametrize("value", [None, "", "false", "0", "no"])
def test_leaves_the_host_alone_by_default(monkeypatch, restored_gc, value):
    if value is None:
        monkeypatch.delenv(TUNE_GC_ENV, raising=False)
    else:
        monkeypatch.setenv(TUNE_GC_ENV, value)
    before = (gc.get_freeze_count(), gc.get_threshold())
    assert not tune_gc_if_requested()
    assert (gc.get_freeze_count(), gc.get_threshold()) == before

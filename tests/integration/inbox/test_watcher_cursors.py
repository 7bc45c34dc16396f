"""The inbox readers' durable cursors (schema v4) on both engines: watchers' and operations handlers'."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.databases import migrated_store

pytestmark = pytest.mark.integration


def test_a_cursor_is_none_until_saved_then_the_last_saved_seq(store):
    assert store.watcher_cursor("watcher:execution.*") is None
    store.set_watcher_cursor("watcher:execution.*", 5)
    assert store.watcher_cursor("watcher:execution.*") == 5
    store.set_watcher_cursor("watcher:execution.*", 9)
    assert store.watcher_cursor("watcher:execution.*") == 9
    assert store.watcher_cursor("watcher:schedule.*") is None  # one cursor per watcher name


def test_cursors_of_a_restarted_process_are_still_there(inbox_url, store):
    store.set_watcher_cursor("w", 2**40)
    with migrated_store(inbox_url) as other:
        assert other.watcher_cursor("w") == 2**40


def test_watchers_saving_at_once_each_keep_their_own(store):
    # A triggerer runs its watchers' saves in threads; two threads per name race even on the first save.
    def save(i: int) -> None:
        for seq in range(1, 21):
            store.set_watcher_cursor(f"watcher-{i % 4}", seq * 10 + i % 4)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(save, range(8)))
    assert [store.watcher_cursor(f"watcher-{i}") for i in range(4)] == [200, 201, 202, 203]


def test_a_handlers_cursor_only_advances(store):
    # The operations handlers' "handled" cursors: a stale or repeated advance never moves one back.
    assert store.watcher_cursor("operations:ops") is None
    store.advance_watcher_cursor("operations:ops", 5)
    store.advance_watcher_cursor("operations:ops", 3)
    assert store.watcher_cursor("operations:ops") == 5
    store.advance_watcher_cursor("operations:ops", 2**40)
    assert store.watcher_cursor("operations:ops") == 2**40
    assert store.watcher_cursor("watcher:ops") is None  # the names of the two kinds of reader stay apart

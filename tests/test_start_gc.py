"""The start-up's collector settings (tui/start_gc.py): a freeze happens once per moment, and what is
made after it is still collected."""

from __future__ import annotations

import gc
import weakref

from tui.start_gc import fewer_collections, freeze_once


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_each_moment_freezes_once_and_later_cycles_are_still_collected() -> None:
    thresholds = gc.get_threshold()
    try:
        fewer_collections()
        assert gc.get_threshold()[0] > thresholds[0]  # young passes are rarer than the default
        frozen_before = gc.get_freeze_count()
        freeze_once("test-moment")
        frozen = gc.get_freeze_count()
        assert frozen > frozen_before
        made_after = [_Node() for _ in range(100)]
        freeze_once("test-moment")  # the same moment again: nothing more is frozen
        # At most as many: another thread may free a frozen object meanwhile (a CI run saw one fewer).
        assert gc.get_freeze_count() <= frozen

        later = weakref.ref(made_after[0])
        del made_after
        gc.collect()
        assert later() is None
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()

"""The work queue, without a cluster: a key is queued once, never worked by two workers at once, and a key
marked while it is worked runs again afterwards; delayed keys come back."""

from __future__ import annotations

import time

from kbmc.operator.queue import WorkQueue


def test_key_queued_once_and_rerun_when_dirty() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert queue.get() == "a"
    queue.add("a")  # while a worker has it
    assert queue.get() == "b"
    queue.done("b")
    queue.done("a")
    assert queue.get() == "a"  # once more, because it changed while worked
    queue.done("a")
    assert len(queue) == 0


def test_delayed_key_comes_back_and_close_wakes_workers() -> None:
    queue = WorkQueue()
    started = time.monotonic()
    queue.add("later", delay=0.2)
    assert queue.get() == "later"
    assert time.monotonic() - started >= 0.2
    queue.done("later")
    queue.close()
    assert queue.get() is None


def test_delayed_key_held_once_at_its_earliest_time_and_dropped_when_taken_sooner() -> None:
    queue = WorkQueue()
    queue.add("a", delay=0.3)
    queue.add("a", delay=0.1)
    queue.add("a", delay=0.2)
    assert queue.get() == "a"
    queue.done("a")
    queue.add("late", delay=0.5)
    assert queue.get() == "late"  # the later entries of "a" are spent
    queue.done("late")
    queue.add("b", delay=0.1)
    queue.add("b")  # taken now: the delayed entry is spent
    assert queue.get() == "b"
    queue.done("b")
    queue.add("c", delay=0.2)
    assert queue.get() == "c"  # not "b" a second time
    queue.done("c")
    assert len(queue) == 0


def test_failures_in_a_row_back_off_per_key_with_jitter_and_a_success_starts_afresh() -> None:
    queue = WorkQueue()
    table = (2.0, 4.0, 8.0)
    delays = [queue.backoff("a", table) for _ in range(4)]
    bounds = [(1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (4.0, 8.0)]  # a half at most taken off, the last entry kept
    assert all(low <= d <= high for d, (low, high) in zip(delays, bounds, strict=True)), delays
    assert queue.backoff("b", table) <= 2.0, "each key counts its own failures"
    queue.forget("a")
    assert queue.backoff("a", table) <= 2.0

"""A work queue of Cluster keys, as controller-runtime's: a key is queued at most once, never processed by
two workers at once, and a key marked dirty while it is processed runs again afterwards. A delayed key is
held once, at its earliest due time, and forgotten when a worker takes the key before then (that pass sees
everything the delay was waiting for). Failures in a row are counted per key, as controller-runtime's rate
limiter does: ``backoff`` gives the next delay of a table, ``forget`` starts it afresh."""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import deque


class WorkQueue:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._later: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._closed = False
        self._failures: dict[str, int] = {}
        self._since: dict[str, float] = {}
        """Key -> when it was queued (for the time it waited)."""

    def add(self, key: str, delay: float = 0.0) -> None:
        with self._cond:
            if delay <= 0:
                self._offer(key)
            else:
                due = time.monotonic() + delay
                if key in self._queued or self._due.get(key, due + 1) <= due:
                    return  # it runs sooner anyway
                self._due[key] = due
                heapq.heappush(self._later, (due, key))
            self._cond.notify()

    def _offer(self, key: str) -> None:
        """Queue ``key`` once; if a worker has it now, mark it to run again when that worker is done."""
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.append(key)
            self._since[key] = time.monotonic()

    def get(self) -> str | None:
        """The next key to process (None once closed)."""
        taken = self.take()
        return taken[0] if taken else None

    def take(self) -> tuple[str, float] | None:
        """The next key to process and the seconds it waited in the queue (None once closed)."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    due, key = heapq.heappop(self._later)
                    if self._due.get(key) == due:
                        del self._due[key]
                        self._offer(key)
                if self._queue:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    self._due.pop(key, None)
                    self._active.add(key)
                    return key, now - self._since.pop(key, now)
                timeout = self._later[0][0] - now if self._later else None
                self._cond.wait(timeout)

    def done(self, key: str) -> None:
        with self._cond:
            self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._offer(key)
                self._cond.notify()

    def backoff(self, key: str, table: tuple[float, ...]) -> float:
        """The next delay of ``table`` for ``key``'s failures in a row, less up to a half at random: keys that
        failed together (one busy data plane) do not retry in step."""
        with self._cond:
            attempt = self._failures.get(key, 0)
            self._failures[key] = attempt + 1
        return table[min(attempt, len(table) - 1)] * random.uniform(0.5, 1.0)

    def forget(self, key: str) -> None:
        """``key`` succeeded: its next failure starts the backoff afresh."""
        with self._cond:
            self._failures.pop(key, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._active)

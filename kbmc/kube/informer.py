"""List + watch of one kind, as plain dicts, that survives its API server going away.

``Informer`` lists, hands every object to ``on_event("SYNC", obj)``, then watches from the list's
resourceVersion (with bookmarks) and hands over each event. On 410 GoneError it relists; on a connection error
or a hung server it backs off and relists. The handler runs on the informer's thread.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from kbmc.kube import rest

Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]
ListFn = Callable[..., Any]

log = logging.getLogger(__name__)

WATCH_SECONDS = 30
"""Server-side timeout of one watch request; the stream is then reopened from the last resourceVersion."""
READ_TIMEOUT = WATCH_SECONDS + 15
"""Client-side read timeout of a watch: longer than the server's, so only a hung server trips it."""


def slim(obj: Obj) -> Obj:
    """Drop what kbmc never reads and the API server repeats on every object (managedFields, the
    last-applied annotation): most of a cached object's memory."""
    meta = obj.get("metadata")
    if meta:
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if annotations:
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return obj


def stale(held: Obj, incoming: Obj) -> bool:
    """Whether ``incoming`` is a version of ``held`` already seen or passed (the echo of one's own write, or a
    late event): resourceVersions compared as etcd revisions when numeric, else for equality."""
    have, got = held["metadata"].get("resourceVersion", ""), incoming["metadata"].get("resourceVersion", "")
    if have.isdigit() and got.isdigit():
        return int(have) >= int(got)
    return bool(got) and have == got


class Strings:
    """One copy of each string the caches hold: every cached object repeats the same keys, labels and values,
    and every ConfigMap of one addon's scripts the same text (17 KB: 50 MB at a thousand Clusters, 2 MB shared).
    Not ``sys.intern``: on Python 3.12 interned strings are never freed, and every resourceVersion and address
    ever seen would stay. Strings nothing else holds any more are dropped whenever the table has doubled."""

    FIRST_PRUNE = 50_000

    def __init__(self) -> None:
        self._table: dict[str, str] = {}
        self._lock = threading.Lock()
        self._prune_at = self.FIRST_PRUNE

    def __len__(self) -> int:
        return len(self._table)

    def share(self, value: str) -> str:
        kept = self._table.get(value)  # one dict lookup (atomic); a miss is settled under the lock
        if kept is not None:
            return kept
        with self._lock:
            kept = self._table.setdefault(value, value)
            if len(self._table) >= self._prune_at:
                self._prune()
        return kept

    def prune(self) -> None:
        with self._lock:
            self._prune()

    def _prune(self) -> None:
        """Drop the strings only the table holds (its key and value, the loop's name and getrefcount's argument:
        4 references). Under the lock."""
        self._table = {v: v for v in self._table.values() if sys.getrefcount(v) > 4}
        self._prune_at = max(self.FIRST_PRUNE, 2 * len(self._table))


STRINGS = Strings()


def compact(value: Any) -> Any:
    """A copy of a decoded object whose keys and strings are shared (``STRINGS``): a cache of thousands of objects
    holds each distinct string once."""
    if isinstance(value, dict):
        return {STRINGS.share(k): compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str):
        return STRINGS.share(value)
    return value


def ended(thread: threading.Thread) -> bool:
    """Whether ``thread`` was started and has ended (an informer, a worker: the operator cannot live without)."""
    return thread.ident is not None and not thread.is_alive()


class GoneError(Exception):
    """The watch's resourceVersion is too old: list again."""


class Informer(threading.Thread):
    """Keeps ``on_event`` fed with the state of one kind in one cluster until ``stop()``."""

    def __init__(self, name: str, list_fn: ListFn, on_event: Handler, *,
                 on_synced: Callable[[list[Obj]], None] | None = None, **list_kwargs: Any) -> None:
        super().__init__(name=name, daemon=True)
        self.list_fn = list_fn
        self.on_event = on_event
        self.on_synced = on_synced
        self.list_kwargs = list_kwargs
        self._stop_event = threading.Event()
        self.synced = threading.Event()
        self._response: Any = None

    def stop(self) -> None:
        """Stop, closing the watch in flight (a data plane marked unavailable gets no request after this)."""
        self._stop_event.set()
        response = self._response
        if response is not None:
            try:
                getattr(response, "shutdown", response.close)()
            except Exception:  # closing a stream another thread reads: any failure there is moot
                log.debug("informer=%s close failed", self.name)

    def run(self) -> None:
        backoff, failing = 0.2, False
        while not self._stop_event.is_set():
            try:
                version = self._list()
                if self._stop_event.is_set():
                    return
                if failing:
                    log.info("informer=%s listed again", self.name)
                backoff, failing = 0.2, False
                while not self._stop_event.is_set():
                    version = self._watch(version)
            except GoneError:
                log.info("informer=%s relist reason=gone", self.name)
            except Exception as exc:  # connection refused, timeouts, 5xx: wait and list again
                if self._stop_event.is_set():
                    return
                # the first failure in a row is a warning; the retries (every 3 s while a server is away) are not
                log.log(logging.DEBUG if failing else logging.WARNING, "informer=%s error=%r retry_in=%.1fs",
                        self.name, exc, backoff)
                failing = True
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 3.0)

    def _list(self) -> str:
        response = self.list_fn(**self.list_kwargs, _preload_content=False, _request_timeout=(2, 30))
        body = json.loads(response.data)
        items: list[Obj] = body.get("items") or []
        kind = body.get("kind", "List").removesuffix("List")
        api_version = body.get("apiVersion", "v1")
        for item in items:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
            self.on_event("SYNC", slim(item))
        if self.on_synced is not None:
            self.on_synced(items)
        self.synced.set()
        version: str = body["metadata"]["resourceVersion"]
        return version

    def _watch(self, version: str) -> str:
        started = time.monotonic()
        response = self.list_fn(
            **self.list_kwargs, watch=True, resource_version=version, allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS, _preload_content=False, _request_timeout=(2, READ_TIMEOUT),
        )
        self._response = response
        try:
            if self._stop_event.is_set():
                return version
            for event in rest.events(response):
                if self._stop_event.is_set():
                    break
                obj: Obj = event["object"]
                if event["type"] == "ERROR":
                    if obj.get("code") == 410:
                        raise GoneError()
                    raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                version = obj["metadata"]["resourceVersion"]
                if event["type"] != "BOOKMARK":
                    self.on_event(event["type"], slim(obj))
        finally:
            self._response = None
            rest.drop(response)
        if time.monotonic() - started < 0.05:  # a server that closes watches at once: do not spin
            self._stop_event.wait(0.5)
        return version

"""The control plane as kbmc last saw it: Clusters, DataPlane objects and the addons' script templates (fed by
kopf and by kbmc's own informers and writes), and what kbmc remembers between passes (the ordinal record it
wrote, the look-alikes it reported). Changes take the lock; a lookup reads one entry, or a copy, without it
(each is one atomic step for CPython's dicts: 16 workers queueing on one lock for a lookup cost more than the
lookups)."""

from __future__ import annotations

import threading

from kbmc.core import names
from kbmc.core.placement import Record
from kbmc.core.plan import Key
from kbmc.kube.informer import Obj, compact, slim, stale


def cluster_key(body: Obj) -> str:
    return f"{body['metadata']['namespace']}/{body['metadata']['name']}"


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clusters: dict[str, Obj] = {}
        """``namespace/name`` -> the Cluster (slimmed)."""
        self.uids: dict[str, str] = {}
        """Cluster uid -> ``namespace/name``."""
        self.dataplanes: dict[str, Obj] = {}
        self.templates: dict[str, Obj] = {}
        """Script template ConfigMaps in the operator's namespace, by name."""
        self.accounts: dict[str, dict[str, Obj]] = {}
        """Cluster key -> its system accounts' Secrets in the control plane, by name."""
        self.records: dict[str, Record] = {}
        """Cluster uid -> the ordinal record kbmc last wrote (or found consistent): a hand edit is told from it."""
        self.reported: set[tuple[str, Key]] = set()
        """(data plane, object) carrying a Cluster's labels that kbmc did not make, once reported."""
        self.clusters_listed = threading.Event()
        """Set once every Cluster in the control plane has been listed (so an unknown uid is a Cluster gone)."""

    def observe_cluster(self, event: str, body: Obj) -> bool:
        """Take in a Cluster event; return whether it told something new (a late event, or the echo of kbmc's own
        write, does not)."""
        key = cluster_key(body)
        if event == "DELETED":
            self.drop(key)
            return True
        with self.lock:
            current = self.clusters.get(key)
            if current is not None and stale(current, body):
                return False
            self.clusters[key] = compact(slim({**body, "metadata": dict(body["metadata"])}))
            self.uids[body["metadata"].get("uid", "")] = key
        return True

    def drop(self, key: str) -> None:
        """Forget the Cluster ``key`` and what kbmc remembers of it."""
        with self.lock:
            body = self.clusters.pop(key, None)
            uid = (body or {}).get("metadata", {}).get("uid", "")
            self.uids.pop(uid, None)
            self.records.pop(uid, None)

    def observe_dataplane(self, event: str, body: Obj) -> bool:
        return _observe(self, self.dataplanes, event, body)

    def observe_template(self, event: str, body: Obj) -> bool:
        return _observe(self, self.templates, event, body)

    def observe_account(self, event: str, body: Obj) -> str | None:
        """Take in an account Secret's event; return the key of its Cluster when it told something new."""
        meta = body["metadata"]
        key = f"{meta['namespace']}/{(meta.get('labels') or {}).get(names.INSTANCE, '')}"
        with self.lock:
            held = self.accounts.setdefault(key, {})
        return key if _observe(self, held, event, body) else None

    def remember(self, uid: str, record: Record | None, reported: frozenset[tuple[str, Key]]) -> None:
        """What a pass leaves for the next: the record it holds to, the look-alikes it reported."""
        with self.lock:
            if record is not None and uid in self.uids:
                self.records[uid] = record
            self.reported |= reported


def _observe(state: State, held: dict[str, Obj], event: str, body: Obj) -> bool:
    name = body["metadata"]["name"]
    with state.lock:
        current = held.get(name)
        if event == "DELETED":
            return held.pop(name, None) is not None
        if current is not None and stale(current, body):
            return False
        held[name] = body
    return True

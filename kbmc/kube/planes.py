"""Data planes at run time: one client and one cache per data plane, fed by label-selected informers.

A data plane marked unavailable has its informers stopped and its client replaced by a stand-in that
refuses every call with ``DataPlaneUnavailableError``: no code path can reach it by accident. Observed
health (reachable, last contact) is probed separately and never changes the SRE's decision.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from kbmc.core import names
from kbmc.core.plan import Key
from kbmc.errors import ApiError, DataPlaneUnavailableError, NoAnswerError
from kbmc.kube import rest
from kbmc.kube.client import new_client, user_agent
from kbmc.kube.informer import Informer, Obj, compact, ended, stale
from kbmc.settings import Timeouts

log = logging.getLogger(__name__)
MANAGED_KINDS = ("Pod", "PersistentVolumeClaim", "Service", "ConfigMap", "Secret", "ServiceAccount", "Role",
                 "RoleBinding")
SELECTOR = f"{names.MANAGED_BY}={names.MANAGER}"
NOT_SYNCED = "not synced yet"


class Cache:
    """Objects kbmc manages in one data plane, indexed by the uid of the Cluster that owns them."""

    def __init__(self, plane: str = "") -> None:
        self.plane = plane
        self._lock = threading.Lock()
        self._objects: dict[Key, Obj] = {}
        self._by_owner: dict[str, set[Key]] = {}
        self.nodes: dict[str, Obj] = {}

    def upsert(self, obj: Obj) -> str | None:
        """Store ``obj`` unless the cache has it already (the echo of kbmc's own write) or a newer version;
        return its owner's uid when the cache changed."""
        obj = compact(_pod_essentials(obj) if obj.get("kind") == "Pod" else obj)
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        labels = obj["metadata"].get("labels") or {}
        if self.plane and labels.get(names.DATA_PLANE, self.plane) != self.plane:
            return None  # made through another DataPlane naming the same cluster: not ours to manage
        owner = labels.get(names.CLUSTER_UID)
        with self._lock:
            old = self._objects.get(key)
            if old is not None and stale(old, obj):
                return None
            self._objects[key] = obj
            if owner:
                self._by_owner.setdefault(owner, set()).add(key)
        return owner

    def remove(self, obj: Obj) -> str | None:
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        with self._lock:
            old = self._objects.pop(key, None)
            owner = ((old or obj)["metadata"].get("labels") or {}).get(names.CLUSTER_UID)
            if owner and owner in self._by_owner:
                self._by_owner[owner].discard(key)
        return owner

    def mark_deleting(self, kind: str, namespace: str, name: str, stamp: str) -> None:
        """Record a delete kbmc just sent, until the watch reports the object gone."""
        with self._lock:
            obj = self._objects.get((kind, namespace, name))
            if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                self._objects[(kind, namespace, name)] = {**obj, "metadata": {**obj["metadata"],
                                                                               "deletionTimestamp": stamp}}

    def replace_kind(self, kind: str, items: Iterable[Obj]) -> set[str]:
        """After a relist: drop objects of ``kind`` no longer listed; return owners touched."""
        listed = {(kind, o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items}
        touched = set()
        with self._lock:
            for key in [k for k in self._objects if k[0] == kind and k not in listed]:
                obj = self._objects.pop(key)
                owner = (obj["metadata"].get("labels") or {}).get(names.CLUSTER_UID)
                if owner:
                    self._by_owner.get(owner, set()).discard(key)
                    touched.add(owner)
        return touched

    def owned_by(self, uid: str) -> dict[Key, Obj]:
        with self._lock:
            return {k: self._objects[k] for k in self._by_owner.get(uid, ()) if k in self._objects}

    def owners(self) -> set[str]:
        with self._lock:
            return {uid for uid, keys in self._by_owner.items() if keys}

    def node_address(self) -> str | None:
        for node in list(self.nodes.values()):
            for address in node.get("status", {}).get("addresses") or []:
                if address["type"] in ("ExternalIP", "InternalIP"):
                    return str(address["address"])
        return None


class _Refusing:
    """Stands in for the client of a data plane marked unavailable."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        raise DataPlaneUnavailableError(f"data plane {self.name} is marked unavailable; no request is sent to it")


@dataclass
class PlaneState:
    """The SRE's decision about a data plane, from its DataPlane object (replaced whole when that changes)."""

    name: str
    context: str
    available: bool = True
    reason: str = ""
    allowed_namespaces: tuple[str, ...] = ()
    service_annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthView:
    """Observed health at one moment."""

    reachable: bool | None
    """None until the first probe (or the value the DataPlane's status had when kbmc started)."""
    message: str = ""
    server_version: str | None = None


class Health:
    """Observed health of a data plane, changed by the probe and by the writes of every worker, under its own
    lock: each change is one step (a probe's answer and a worker's missing answer never interleave)."""

    def __init__(self, reachable: bool | None = None) -> None:
        self._lock = threading.Lock()
        self._view = HealthView(reachable)
        self._unanswered = 0
        """Writes in a row that got no answer (reset by any answer)."""

    def view(self) -> HealthView:
        return self._view

    @property
    def reachable(self) -> bool | None:
        return self._view.reachable

    def answered(self, version: str | None = None) -> bool:
        """An answer (a probe's, when ``version`` is given; else a write's). Return whether the data plane was
        counted unreachable before."""
        with self._lock:
            self._unanswered = 0
            if version is None:
                return False
            recovered = self._view.reachable is False
            self._view = HealthView(True, "", version)
            return recovered

    def probe_failed(self, message: str) -> None:
        with self._lock:
            self._view = HealthView(False, message[:300], self._view.server_version)

    def write_unanswered(self, message: str, limit: int) -> None:
        """A write that got no answer; the ``limit``-th in a row counts the data plane unreachable (every other
        Cluster skips it until the next probe answers)."""
        with self._lock:
            self._unanswered += 1
            if self._unanswered >= limit:
                self._view = HealthView(False, message[:300], self._view.server_version)


class Plane:
    """One data plane: its client (or the refusing stand-in), its informers and its cache."""

    def __init__(self, state: PlaneState, health: Health, kubeconfig: dict[str, Any] | None, timeouts: Timeouts,
                 on_change: Callable[[str, set[str]], None], config_error: str | None = None) -> None:
        self.state = state
        self.health = health
        """Observed health; carried over when the Plane is made anew (a DataPlane or its credentials changed)."""
        self.cache = Cache(state.name)
        self._on_change = on_change
        self._informers: list[Informer] = []
        self._stopping = False
        self.api: client.ApiClient | _Refusing = _Refusing(state.name)
        self.config_digest = context_digest(kubeconfig, state.context)
        self.error: str | None = None
        if not state.available:
            return
        if kubeconfig is None or self.config_digest is None:
            self.error = config_error or f"context {state.context} is not in the operator's kubeconfig Secret"
            return
        try:
            self.api = new_client("", state.context, agent=user_agent(f"dataplane={state.name}"),
                                  timeouts=timeouts, kubeconfig_dict=kubeconfig)
        except Exception as exc:  # a malformed entry must not take the operator down
            # only the kind of problem: the client's messages may quote the entry, and this reaches status
            self.error = (f"context {state.context} in the kubeconfig Secret is unusable "
                          f"({type(exc.__cause__ or exc).__name__}): check its cluster, user and certificate entries")
            return
        api = self.api
        for kind in MANAGED_KINDS:
            self._informers.append(Informer(
                f"{state.name}/{kind}", rest.lister(api, kind, label_selector=SELECTOR),
                self._handler(kind), on_synced=self._relisted(kind)))
        self._informers.append(Informer(f"{state.name}/Node", rest.lister(api, "Node"), self._node))
        for informer in self._informers:
            informer.start()

    @property
    def name(self) -> str:
        return self.state.name

    def synced(self) -> bool:
        return bool(self._informers) and all(i.synced.is_set() for i in self._informers)

    def unusable(self) -> str | None:
        """Why kbmc cannot work in this data plane right now (None when it can)."""
        if not self.state.available:
            return f"marked unavailable: {self.state.reason}"
        if self.error:
            return self.error
        health = self.health.view()
        if health.reachable is False:
            return f"unreachable: {health.message}"
        if not self.synced():
            return NOT_SYNCED
        return None

    def stopped_informers(self) -> list[str]:
        """Informers of this data plane that have ended although it was not stopped. The flag is read after the
        informers: one that ``stop`` ended is seen ended only after ``stop`` set the flag (no false alarm while
        a data plane is marked unavailable or its credentials change)."""
        found = [i.name for i in self._informers if ended(i)]
        return [] if self._stopping else found

    def stop(self) -> None:
        self._stopping = True
        informers, self._informers = self._informers, []
        for informer in informers:
            informer.stop()

    def call(self, method: str, url_path: str, **kwargs: Any) -> Any:
        """One request to this data plane (refused at once when it is marked unavailable)."""
        if isinstance(self.api, _Refusing):
            raise DataPlaneUnavailableError(self.error or f"data plane {self.name} is marked unavailable")
        return rest.call(self.api, method, url_path, **kwargs)

    def _handler(self, kind: str) -> Callable[[str, Obj], None]:
        def handle(event: str, obj: Obj) -> None:
            obj.setdefault("kind", kind)
            owner = self.cache.remove(obj) if event == "DELETED" else self.cache.upsert(obj)
            if owner and event != "SYNC":
                self._on_change(self.name, {owner})
        return handle

    def _relisted(self, kind: str) -> Callable[[list[Obj]], None]:
        def relisted(items: list[Obj]) -> None:
            self._on_change(self.name, self.cache.replace_kind(kind, items) | self.cache.owners())
        return relisted

    def _node(self, event: str, obj: Obj) -> None:
        if event == "DELETED":
            self.cache.nodes.pop(obj["metadata"]["name"], None)
        else:
            self.cache.nodes[obj["metadata"]["name"]] = obj

    def probe(self) -> bool:
        """Ask the server its version (bounded by the client's timeouts); record reachability. Return whether
        it answered after being counted unreachable."""
        try:
            version = self.call("GET", "/version")
        except DataPlaneUnavailableError:
            return False
        except (ApiError, NoAnswerError) as exc:  # any failure to get an answer is unreachability
            self.health.probe_failed(str(exc))
            return False
        return self.health.answered(str(version.get("gitVersion", "")))


def _pod_essentials(pod: Obj) -> Obj:
    """What kbmc reads of a Pod (its spec is compared by hash, so only the node is kept): most of the cache's
    memory otherwise."""
    status = pod.get("status") or {}
    return {"kind": "Pod", "metadata": pod["metadata"], "spec": {"nodeName": (pod.get("spec") or {}).get("nodeName")},
            "status": {k: status[k] for k in ("phase", "conditions", "podIP") if k in status}}


def context_digest(kubeconfig: dict[str, Any] | None, context: str) -> str | None:
    """Fingerprint of the kubeconfig entries one context uses (a rotated token changes it)."""
    if kubeconfig is None:
        return None
    ctx = next((c for c in kubeconfig.get("contexts") or [] if c.get("name") == context), None)
    if ctx is None:
        return None
    detail = ctx.get("context") or {}
    cluster = next((c for c in kubeconfig.get("clusters") or [] if c.get("name") == detail.get("cluster")), None)
    user = next((u for u in kubeconfig.get("users") or [] if u.get("name") == detail.get("user")), None)
    return hashlib.sha256(json.dumps([ctx, cluster, user], sort_keys=True).encode()).hexdigest()

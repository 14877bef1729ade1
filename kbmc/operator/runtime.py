"""The operator's state at run time and its threads: the data planes, the last seen Clusters and
ComponentDefinitions (fed by kopf), the kubeconfig Secret and script templates (own informers), the work
queue and its workers, and the health probe."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.dataplane import DataPlane
from kbmc.core.kubeconfig import from_secret
from kbmc.errors import ApiError, KubeconfigError
from kbmc.kube import rest
from kbmc.kube.client import new_client, user_agent
from kbmc.kube.crds import Listing
from kbmc.kube.informer import Informer, Obj, compact, ended, slim, stale
from kbmc.kube.planes import Plane, PlaneState, context_digest
from kbmc.operator import metrics
from kbmc.operator.queue import WorkQueue
from kbmc.settings import Settings

log = logging.getLogger("kbmc.operator")
CONTACT_REFRESH = 30.0
"""Seconds between writes of DataPlane status.lastContact while nothing else changes."""
COALESCE = 0.1
"""Seconds a Cluster waits after a change in a data plane, so that a burst (three pods becoming ready, a
Service and its address) is one reconcile and one status write."""


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.control = new_client(settings.kubeconfig or "", settings.context, agent=user_agent("operator"),
                                  timeouts=settings.timeouts)
        self.lock = threading.RLock()
        """Guards changes to the maps below. Readers take one entry, or a snapshot with ``list()``, without it
        (each is one atomic step for CPython's dicts): 16 workers queueing on one lock for a lookup cost more
        than the lookups."""
        self.clusters: dict[str, Obj] = {}
        self.uids: dict[str, str] = {}
        self.status_written: dict[str, float] = {}
        """Cluster key -> monotonic time of kbmc's last status write (status writes are spaced)."""
        self.definitions: dict[str, Obj] = {}
        self._parsed: dict[str, tuple[str, ComponentDefinition]] = {}
        self.dataplanes: dict[str, Obj] = {}
        self.templates: dict[str, Obj] = {}
        self.planes: dict[str, Plane] = {}
        self.clusters_listed = threading.Event()
        """Set once every Cluster in the control plane has been listed (so an unknown uid is a Cluster gone)."""
        self.records: dict[str, dict[str, dict[int, str]]] = {}
        """Cluster uid -> the ordinal record kbmc last wrote (or found consistent): a hand edit is told from it."""
        self.lookalikes: set[tuple[str, tuple[str, str, str]]] = set()
        """(data plane, object) carrying a Cluster's labels that kbmc did not make, once reported."""
        self.kubeconfig: dict[str, Any] | None = None
        self.kubeconfig_error: str | None = "kubeconfig Secret not read yet"
        self.queue = WorkQueue()
        self.pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="plane")
        self.posting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events")
        """Events are posted one at a time, off the workers and off ``pool``: they trail, and never delay a
        status write or a write to a data plane (in an incident, hundreds are due at once)."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._informers = [
            Informer("control/kubeconfig-secret",
                     rest.lister(self.control, "Secret", settings.namespace,
                                 field_selector=f"metadata.name={settings.kubeconfig_secret}"),
                     self._on_secret, on_synced=self._secret_listed),
            Informer("control/templates", rest.lister(self.control, "ConfigMap", settings.namespace),
                     self._on_template),
        ]

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        from kbmc.operator.reconcile import reconcile_loop  # noqa: PLC0415 - reconcile imports this module

        self._register_contexts()
        for informer in self._informers:
            informer.start()
        for informer in self._informers:
            informer.synced.wait(10)
        for index in range(self.settings.workers):
            self._threads.append(threading.Thread(target=reconcile_loop, args=(self,), name=f"reconcile-{index}",
                                                  daemon=True))
        self._threads.append(threading.Thread(target=self._probe_loop, name="probe", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.close()
        for informer in self._informers:
            informer.stop()
        with self.lock:
            for plane in self.planes.values():
                plane.stop()
        for pool in (self.pool, self.posting):
            pool.shutdown(wait=False, cancel_futures=True)

    def stopped_parts(self) -> list[str]:
        """The threads the operator cannot work without (workers, probe, informers) that have ended while it
        runs; none in normal operation."""
        if self._stop.is_set():
            return []
        with self.lock:
            planes = list(self.planes.values())
        return [t.name for t in (*self._threads, *self._informers) if ended(t)] + [
            name for plane in planes for name in plane.stopped_informers()]

    def _register_contexts(self) -> None:
        """Mirror ``--contexts`` as DataPlane objects (KubeBlocks' multiCluster.contexts)."""
        for context in self.settings.contexts:
            body = DataPlane.model_validate({"metadata": {"name": context}, "spec": {"context": context}}).dump()
            body.pop("status", None)
            try:
                rest.call(self.control, "POST", rest.path("DataPlane"), body=body)
            except ApiError as exc:
                if exc.status != 409:
                    raise

    # -- inputs (kopf handlers and informers) ----------------------------------------------------------

    def catch_up(self, kind: str, listing: Listing) -> None:
        """Take in a fresh list of a kind kopf watches, made before kopf's watches (re)start: what changed while
        nothing watched is observed, and what was deleted meanwhile is dropped (only objects the list is newer
        than; a kind whose CRD is not installed has nothing)."""
        observe, held = {"DataPlane": (self.observe_dataplane, self.dataplanes),
                         "ComponentDefinition": (self.observe_definition, self.definitions),
                         "Cluster": (self.observe_cluster, self.clusters)}[kind]
        listed = set()
        for item in listing.items:
            observe("ADDED", {"kind": kind, **item})
            meta = item["metadata"]
            listed.add(f"{meta['namespace']}/{meta['name']}" if kind == "Cluster" else meta["name"])
        for key, body in list(held.items()):
            if key not in listed and (not listing.installed or _listed_after(body, listing.version)):
                log.info("%s=%s deleted while not watched", kind, key)
                observe("DELETED", body)
        if kind == "Cluster":  # without the CRD, no uid proves anything: nothing is swept
            (self.clusters_listed.set if listing.installed else self.clusters_listed.clear)()

    def observe_cluster(self, event: str, body: Obj) -> None:
        """A Cluster as last seen (from kopf, or from kbmc's own write: ``STATUS`` does not requeue)."""
        key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
        with self.lock:
            if event == "DELETED":
                self.clusters.pop(key, None)
                self.status_written.pop(key, None)
                self.uids.pop(body["metadata"].get("uid", ""), None)
                self.records.pop(body["metadata"].get("uid", ""), None)
                return
            current = self.clusters.get(key)
            if current is not None and stale(current, body):
                return  # a late event, or the echo of kbmc's own write (already seen): nothing new
            self.clusters[key] = compact(slim({**body, "metadata": dict(body["metadata"])}))
            self.uids[body["metadata"]["uid"]] = key
        if event != "STATUS":
            self.queue.add(key)

    def observe_definition(self, event: str, body: Obj) -> None:
        from kbmc.operator.reconcile import check_definition  # noqa: PLC0415

        name = body["metadata"]["name"]
        with self.lock:
            current = self.definitions.get(name)
            if event == "DELETED":
                self.definitions.pop(name, None)
            elif current is not None and stale(current, body):
                return  # seen already (listed before kopf's watches started, or a late event)
            else:
                self.definitions[name] = body
        if event != "DELETED":
            check_definition(self, body)
        self.enqueue_all()

    def observe_dataplane(self, event: str, body: Obj) -> None:
        name = body["metadata"]["name"]
        with self.lock:
            current = self.dataplanes.get(name)
            if event == "DELETED":
                self.dataplanes.pop(name, None)
            elif current is not None and stale(current, body):
                return
            else:
                self.dataplanes[name] = body
        self.sync_planes()

    def _on_secret(self, event: str, obj: Obj) -> None:
        where = f"Secret {self.settings.namespace}/{self.settings.kubeconfig_secret}"
        if event == "DELETED":
            self._set_kubeconfig(None, f"{where} is missing")
            return
        try:
            parsed = from_secret(obj.get("data"), where)
        except KubeconfigError as exc:
            self._set_kubeconfig(None, str(exc))
            return
        self._set_kubeconfig(parsed, None)

    def _secret_listed(self, items: list[Obj]) -> None:
        if not items:
            self._on_secret("DELETED", {})

    def _set_kubeconfig(self, kubeconfig: dict[str, Any] | None, error: str | None) -> None:
        with self.lock:
            self.kubeconfig, self.kubeconfig_error = kubeconfig, error
        if error:
            log.warning("kubeconfig error=%s", error)
        self.sync_planes()

    def _on_template(self, event: str, obj: Obj) -> None:
        with self.lock:
            if event == "DELETED":
                self.templates.pop(obj["metadata"]["name"], None)
            else:
                self.templates[obj["metadata"]["name"]] = obj
        self.enqueue_all()

    # -- data planes -----------------------------------------------------------------------------------

    def sync_planes(self) -> None:
        """Bring the running data planes in line with the DataPlane objects and the kubeconfig Secret."""
        changed = False
        with self.lock:
            wanted = {name: _plane_state(body) for name, body in self.dataplanes.items()}
            owner: dict[str, str] = {}  # context -> the oldest DataPlane naming it: one context, one DataPlane
            for name in sorted(self.dataplanes, key=lambda n: (
                    self.dataplanes[n]["metadata"].get("creationTimestamp", ""), n)):
                owner.setdefault(wanted[name].context, name)
            for name in list(self.planes):
                if name not in wanted:
                    self.planes.pop(name).stop()
                    changed = True
            for name, state in wanted.items():
                current = self.planes.get(name)
                first = owner[state.context]
                digest = context_digest(self.kubeconfig, state.context) if first == name else f"taken by {first}"
                if current is not None and (current.state.available, current.state.context, current.config_digest) == (
                        state.available, state.context, digest):
                    current.state.reason = state.reason
                    current.state.allowed_namespaces = state.allowed_namespaces
                    current.state.service_annotations = state.service_annotations
                    continue
                if current is not None:
                    current.stop()
                    state.reachable, state.last_contact = current.state.reachable, current.state.last_contact
                if first == name:
                    self.planes[name] = Plane(state, self.kubeconfig, self.settings.timeouts, self._plane_changed,
                                              self.kubeconfig_error)
                else:  # two DataPlanes on one cluster would write the same objects twice: the later one is refused
                    self.planes[name] = Plane(state, None, self.settings.timeouts, self._plane_changed,
                                              f"context {state.context} is already the data plane of DataPlane "
                                              f"{first}: one context, one DataPlane")
                    self.planes[name].config_digest = digest
                log.info("dataplane=%s available=%s context=%s", name, state.available, state.context)
                changed = True
        if changed:
            self.enqueue_all()

    def _plane_changed(self, plane: str, owners: set[str]) -> None:
        for uid in owners:
            key = self.uids.get(uid)
            if key is not None:
                self.queue.add(key, COALESCE)

    def plane(self, name: str) -> Plane | None:
        return self.planes.get(name)

    def enqueue_all(self) -> None:
        with self.lock:
            keys = list(self.clusters)
        for key in keys:
            self.queue.add(key)

    def _probe_loop(self) -> None:
        contact: dict[str, float] = {}
        while not self._stop.wait(self.settings.probe_interval if contact else 0.5):
            try:
                with self.lock:
                    planes = [p for p in self.planes.values() if p.state.available]
                recovered = list(self.pool.map(Plane.probe, planes))
                for plane in planes:
                    self._report_health(plane, contact)
                if any(recovered):
                    # Clusters that skipped it are not polled meanwhile, and some may have nothing there yet
                    self.enqueue_all()
            except Exception:  # the control plane away (a restart): probe again next round, never stop
                log.exception("health probe round failed")

    def _report_health(self, plane: Plane, contact: dict[str, float]) -> None:
        state = plane.state
        metrics.DATAPLANE_UP.labels(state.name).set(1 if state.reachable else 0)
        body = self.dataplanes.get(state.name, {})
        status = body.get("status") or {}
        fresh = time.monotonic() - contact.get(state.name, 0) < CONTACT_REFRESH
        message = state.message or plane.error or ""
        if state.reachable and not plane.error:
            if status.get("reachable") is True and fresh and not status.get("message"):
                return
            contact[state.name] = time.monotonic()
            state.last_contact = now()
            patch = {"reachable": True, "lastContact": state.last_contact, "serverVersion": state.server_version,
                     "message": None}
        else:
            if status.get("reachable") is False and status.get("message") == message:
                return
            patch = {"reachable": False, "message": message}
            contact[state.name] = time.monotonic()
            self.event("DataPlane", state.name, None, "Warning", "Unreachable",
                       f"data plane {state.name} does not answer: {message}")
        try:
            rest.call(self.control, "PATCH", rest.path("DataPlane", name=state.name, subresource="status"),
                      body={"status": patch}, content_type=rest.MERGE_PATCH)
        except Exception as exc:  # the control plane away: the next round writes it
            log.warning("dataplane=%s status write failed: %s", state.name, exc)
        if patch["reachable"] is False and status.get("reachable") is not False:
            self._plane_changed(state.name, plane.cache.owners())  # answering again: the probe loop queues all

    # -- control-plane writes --------------------------------------------------------------------------

    def event(self, kind: str, name: str, namespace: str | None, type_: str, reason: str, message: str,
              uid: str | None = None) -> None:
        """Post a Kubernetes Event about a control-plane object (best effort)."""
        target_ns = namespace or "default"
        stamp = now()
        body = {
            "metadata": {"generateName": f"{name}.", "namespace": target_ns},
            "involvedObject": {"kind": kind, "name": name, "namespace": namespace, "uid": uid,
                               "apiVersion": "kbmc.io/v1alpha1" if kind == "DataPlane" else
                               "apps.kubeblocks.io/v1alpha1"},
            "type": type_, "reason": reason, "message": message[:1000], "firstTimestamp": stamp,
            "lastTimestamp": stamp, "count": 1, "source": {"component": "kbmc"},
            "reportingComponent": "kbmc", "reportingInstance": "kbmc",
        }
        try:
            rest.call(self.control, "POST", rest.path("Event", target_ns), body=body)
        except Exception as exc:  # events are best effort
            log.warning("event not posted: %s", exc)

    def definition(self, name: str) -> ComponentDefinition | None:
        """The ComponentDefinition as a model, parsed once per resourceVersion (every reconcile asks)."""
        with self.lock:
            body = self.definitions.get(name)
            if body is None:
                return None
            version = body["metadata"].get("resourceVersion", "")
            cached = self._parsed.get(name)
            if cached is not None and cached[0] == version:
                return cached[1]
        model = ComponentDefinition.model_validate(body)
        with self.lock:
            self._parsed[name] = (version, model)
        return model

    def template_files(self, name: str) -> dict[str, str] | None:
        body = self.templates.get(name)
        return dict(body.get("data") or {}) if body else None

    def planes_of(self, names_: Iterable[str]) -> dict[str, Plane]:
        planes = self.planes
        return {n: p for n in names_ if (p := planes.get(n)) is not None}


def _listed_after(held: Obj, version: str) -> bool:
    """Whether a list at resourceVersion ``version`` is newer than ``held`` (so its absence there is a deletion);
    resourceVersions compared as etcd revisions when numeric, else taken as newer."""
    have = held["metadata"].get("resourceVersion", "")
    return not (have.isdigit() and version.isdigit()) or int(have) < int(version)


def _plane_state(body: Obj) -> PlaneState:
    model = DataPlane.model_validate(body)
    spec = model.spec
    return PlaneState(name=model.metadata.name or "", context=spec.context, available=spec.available,
                      reason=spec.unavailable_reason or "", allowed_namespaces=tuple(spec.allowed_namespaces),
                      service_annotations=dict(spec.service_annotations),
                      reachable=model.status.reachable, last_contact=model.status.last_contact)

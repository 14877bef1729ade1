"""The operator's parts, wired: the control-plane caches (``State``, ``Definitions``), the data-plane set, the
control-plane writes, the work queue and its workers, the health probe, and the informers of the kubeconfig
Secret and the script templates. Events from kopf come in here and queue passes; nothing here decides about a
Cluster (``kbmc.operator.reconcile`` does)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.componentversion import ComponentVersion
from kbmc.api.dataplane import DataPlane
from kbmc.core import names, versions
from kbmc.core.accounts import ACCOUNT
from kbmc.errors import ConflictError
from kbmc.kube import rest
from kbmc.kube.client import new_client, user_agent
from kbmc.kube.crds import Listing
from kbmc.kube.informer import Informer, Obj, ended
from kbmc.operator import definitions as definition_rules
from kbmc.operator.dataplanes import DataPlanes
from kbmc.operator.definitions import Catalog
from kbmc.operator.prepare import Parts
from kbmc.operator.queue import WorkQueue
from kbmc.operator.reconcile import run_pass
from kbmc.operator.state import State, cluster_key
from kbmc.operator.worker import work
from kbmc.operator.writes import Writes
from kbmc.settings import Settings

log = logging.getLogger("kbmc.operator")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.control = new_client(settings.kubeconfig or "", settings.context,
                                  agent=user_agent(f"operator {settings.identity}"), timeouts=settings.timeouts)
        self.state = State()
        self.definitions = Catalog(ComponentDefinition)
        self.versions = Catalog(ComponentVersion)
        self.queue = WorkQueue()
        self.writes = Writes(self.control, settings.status, self._echo)
        self.dataplanes = DataPlanes(settings.dataplanes, settings.timeouts, settings.status, self.writes,
                                     self.state.dataplanes.copy, self._plane_changed, self.enqueue_all)
        self.parts = Parts(settings, self.state, self.definitions, self.versions, self.dataplanes, self.writes,
                           self._forget)
        self._reported_failure: dict[str, float] = {}
        self._unwritten: set[tuple[str, str]] = set()
        """(kind, name) of ComponentDefinitions and ComponentVersions whose status write the control plane did not
        take."""
        self.crds_terminating: set[str] = set()
        """Kinds whose CRD is being deleted (``watches.CrdWatch``): their objects keep no finalizer of kbmc's, or
        the CRD's deletion would wait for them."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        secret = f"Secret {settings.namespace}/{settings.kubeconfig_secret}"
        self._informers = [
            Informer("control/kubeconfig-secret",
                     rest.lister(self.control, "Secret", settings.namespace,
                                 field_selector=f"metadata.name={settings.kubeconfig_secret}"),
                     partial(self.dataplanes.kubeconfig_secret, where=secret),
                     on_synced=lambda items: None if items else self.dataplanes.kubeconfig_secret(
                         "DELETED", {}, secret)),
            Informer("control/templates", rest.lister(self.control, "ConfigMap", settings.namespace),
                     self._on_template),
            Informer("control/accounts", rest.lister(self.control, "Secret", label_selector=(
                f"{names.MANAGED_BY}={names.MANAGER},{ACCOUNT}")), self._on_account),
        ]

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._register_contexts()
        for informer in self._informers:
            informer.start()
        for informer in self._informers:
            informer.synced.wait(10)
        run = partial(run_pass, self.parts)
        for index in range(self.settings.queue.workers):
            self._threads.append(threading.Thread(target=work, args=(self.queue, run, self._failed,
                                                                     self.settings.queue),
                                                  name=f"reconcile-{index}", daemon=True))
        self._threads.append(threading.Thread(target=self.dataplanes.probe_loop, args=(self._stop,), name="probe",
                                              daemon=True))
        self._threads.append(threading.Thread(target=self._rewrite_loop, name="rewrite", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, grace: float = 10.0) -> bool:
        """Stop every part; what is under way (passes, a probe, Events being posted) gets ``grace`` seconds to
        end. True when everything ended (only then may a leader hand its Lease over: no write follows)."""
        self._stop.set()
        self.queue.close()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for informer in self._informers:
            informer.stop()
        self.dataplanes.stop()
        self.writes.stop()
        return not any(thread.is_alive() for thread in self._threads)

    def stopped_parts(self) -> list[str]:
        """The threads the operator cannot work without (workers, probe, informers) that have ended while it
        runs; none in normal operation."""
        if self._stop.is_set():
            return []
        return [t.name for t in (*self._threads, *self._informers) if ended(t)] + self.dataplanes.stopped_parts()

    def _register_contexts(self) -> None:
        """Mirror ``--contexts`` as DataPlane objects (KubeBlocks' multiCluster.contexts)."""
        for context in self.settings.contexts:
            body = DataPlane.model_validate({"metadata": {"name": context}, "spec": {"context": context}}).dump()
            body.pop("status", None)
            with contextlib.suppress(ConflictError):
                rest.call(self.control, "POST", rest.path("DataPlane"), body=body)

    # -- inputs (kopf handlers and informers) ----------------------------------------------------------

    def catch_up(self, kind: str, listing: Listing) -> None:
        """Take in a fresh list of a kind kopf watches, made before kopf's watches (re)start: what changed while
        nothing watched is observed, and what was deleted meanwhile is dropped (only objects the list is newer
        than; a kind whose CRD is not installed has nothing)."""
        observe: Callable[[str, Obj], None]
        held: Callable[[], dict[str, Obj]]
        observe, held = {"DataPlane": (self.observe_dataplane, self.state.dataplanes.copy),
                         "ComponentDefinition": (self.observe_definition, self.definitions.bodies),
                         "ComponentVersion": (self.observe_version, self.versions.bodies),
                         "Cluster": (self.observe_cluster, self.state.clusters.copy)}[kind]
        listed = set()
        for item in listing.items:
            observe("ADDED", {"kind": kind, **item})
            listed.add(cluster_key(item) if kind == "Cluster" else item["metadata"]["name"])
        for key, body in list(held().items()):
            if key not in listed and (not listing.installed or _listed_after(body, listing.version)):
                log.info("%s=%s deleted while not watched", kind, key)
                observe("DELETED", body)
        if kind == "Cluster":  # without the CRD, no uid proves anything: nothing is swept
            (self.state.clusters_listed.set if listing.installed else self.state.clusters_listed.clear)()

    def observe_cluster(self, event: str, body: Obj) -> None:
        key = cluster_key(body)
        if event == "DELETED":
            self._forget(key)
        elif self.state.observe_cluster(event, body):
            self.queue.add(key)

    def _forget(self, key: str) -> None:
        self.state.drop(key)
        self.writes.forget(key)
        self._reported_failure.pop(key, None)

    def _echo(self, event: str, body: Obj) -> None:
        """kbmc's own write to a Cluster as answered: a status write (``STATUS``) queues nothing."""
        if self.state.observe_cluster(event, body) and event != "STATUS":
            self.queue.add(cluster_key(body))

    def observe_definition(self, event: str, body: Obj) -> None:
        if not self.definitions.observe(event, body):
            return
        if event == "DELETED":
            self._unwritten.discard(("ComponentDefinition", body["metadata"]["name"]))
        else:
            self._check_definition(body)
        for version in self.versions.bodies().values():  # a version's verdict depends on the definitions
            self._check_version(version)
        self.enqueue_all()

    def observe_version(self, event: str, body: Obj) -> None:
        if not self.versions.observe(event, body):
            return
        if event == "DELETED":
            self._unwritten.discard(("ComponentVersion", body["metadata"]["name"]))
        else:
            self._check_version(body)
        self.enqueue_all()

    def _check_definition(self, body: Obj) -> None:
        name = body["metadata"]["name"]
        self._write_verdict("ComponentDefinition", name, definition_rules.check(
            body, self.settings.namespace, self._users().get(name, [])))

    def _check_version(self, body: Obj) -> None:
        self._write_verdict("ComponentVersion", body["metadata"]["name"],
                            definition_rules.check_version(body, self.definitions.models()))

    def _write_verdict(self, kind: str, name: str, status: dict[str, object] | None) -> None:
        """Write a ComponentDefinition's or ComponentVersion's status if it should change; one the control plane
        does not take is tried again (``_rewrite_loop``): no later event may come to do it."""
        if status is None or self.writes.catalog_status(kind, name, status):
            self._unwritten.discard((kind, name))
        else:
            self._unwritten.add((kind, name))

    def _users(self) -> dict[str, list[str]]:
        """ComponentDefinition name -> the Clusters (namespace/name) whose components name it and so hold its
        deletion; none while the CRD itself is being deleted (the user removes the kind, definitions and all)."""
        out: dict[str, list[str]] = {}
        if "ComponentDefinition" in self.crds_terminating:
            return out
        for key, body in sorted(self.state.clusters.copy().items()):
            pins = versions.read_pins(body["metadata"].get("annotations") or {})
            for spec in (body.get("spec") or {}).get("componentSpecs") or []:
                pin = pins.get(spec.get("name"))
                out.setdefault(pin.resolved[0] if pin else str(spec.get("componentDef")), []).append(key)
        return out

    def _sync_usage(self) -> None:
        """A ComponentDefinition in use keeps kbmc's finalizer ``kbmc.io/in-use``: deleting it waits (its status
        says for which Clusters) until none uses it; one no Cluster uses has none."""
        if not self.state.clusters_listed.is_set():
            return  # without every Cluster seen, no definition is known to be unused
        users = self._users()
        for name, body in self.definitions.bodies().items():
            finalizers = list(body["metadata"].get("finalizers") or [])
            used = bool(users.get(name))
            if used != (names.IN_USE in finalizers):
                wanted = [*finalizers, names.IN_USE] if used else [f for f in finalizers if f != names.IN_USE]
                self.writes.definition_finalizers(body, wanted)
            if body["metadata"].get("deletionTimestamp"):
                self._check_definition(body)

    def _rewrite_loop(self) -> None:
        while not self._stop.wait(self.settings.status.rewrite_interval):
            self._sync_usage()
            bodies = {"ComponentDefinition": self.definitions.bodies(), "ComponentVersion": self.versions.bodies()}
            for kind, name in list(self._unwritten):
                body = bodies[kind].get(name)
                if body is None:
                    self._unwritten.discard((kind, name))
                elif kind == "ComponentDefinition":
                    self._check_definition(body)
                else:
                    self._check_version(body)

    def observe_dataplane(self, event: str, body: Obj) -> None:
        if self.state.observe_dataplane(event, body):
            self.dataplanes.sync()

    def _on_account(self, event: str, obj: Obj) -> None:
        key = self.state.observe_account(event, obj)
        if key is not None:
            self.queue.add(key)

    def _on_template(self, event: str, obj: Obj) -> None:
        if self.state.observe_template(event, obj):
            self.enqueue_all()

    def _plane_changed(self, plane: str, owners: set[str]) -> None:
        for uid in owners:
            key = self.state.uids.get(uid)
            if key is not None:
                self.queue.add(key, self.settings.queue.coalesce)

    def enqueue_all(self) -> None:
        for key in list(self.state.clusters):
            self.queue.add(key)

    def inventory(self) -> tuple[dict[str, int], dict[tuple[str, str, str], int]]:
        """Clusters by phase, and instances by (data plane, role, ready), as their status says (for metrics)."""
        phases: dict[str, int] = {}
        instances: dict[tuple[str, str, str], int] = {}
        for body in list(self.state.clusters.values()):
            status = body.get("status") or {}
            phase = status.get("phase") or "Unknown"
            phases[phase] = phases.get(phase, 0) + 1
            for component in (status.get("components") or {}).values():
                for item in component.get("instances") or []:
                    key = (item.get("dataPlane") or "", item.get("role") or "", str(bool(item.get("ready"))).lower())
                    instances[key] = instances.get(key, 0) + 1
        return phases, instances

    def _failed(self, key: str, exc: Exception) -> None:
        """A pass failed unexpectedly (a bug, or something kbmc does not know yet): a Warning on the Cluster,
        at most one per ``failure_event_interval`` (the log has every one)."""
        now = time.monotonic()
        if now - self._reported_failure.get(key, -1e9) < self.settings.status.failure_event_interval:
            return
        body = self.state.clusters.get(key)
        if body is None:
            return
        self._reported_failure[key] = now
        meta = body["metadata"]
        self.writes.post("Cluster", meta["name"], meta["namespace"], "Warning", "ReconcileError",
                         f"kbmc's pass over this Cluster failed ({type(exc).__name__}: {exc}); it is retried with "
                         "backoff, and the operator's log has the traceback"[:1000], meta.get("uid"))


def _listed_after(held: Obj, version: str) -> bool:
    """Whether a list at resourceVersion ``version`` is newer than ``held`` (so its absence there is a deletion);
    resourceVersions compared as etcd revisions when numeric, else taken as newer."""
    have = held["metadata"].get("resourceVersion", "")
    return not (have.isdigit() and version.isdigit()) or int(have) < int(version)

"""Every write kbmc makes to the control plane: a Cluster's metadata (record, finalizer, notes) and status, Events
(posted one at a time off the workers), DataPlane and ComponentDefinition status."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kbmc.api.cluster import Cluster
from kbmc.core import accounts, clock, names
from kbmc.core import status as status_rules
from kbmc.core.accounts import Account
from kbmc.core.status import Observation
from kbmc.errors import ConflictError, KbmcError, NotFoundError
from kbmc.kube import rest
from kbmc.kube.client import Api
from kbmc.kube.informer import Obj
from kbmc.settings import StatusSettings

log = logging.getLogger("kbmc.operator.writes")


class Writes:
    def __init__(self, control: Api, settings: StatusSettings, echo: Callable[[str, Obj], None]) -> None:
        self.control = control
        self.settings = settings
        self._echo = echo
        """Takes in kbmc's own writes as they were answered (``STATUS``: a status write, which queues nothing)."""
        self._lock = threading.Lock()
        self._written: dict[str, float] = {}
        """Cluster key -> monotonic time of kbmc's last status write (status writes are spaced)."""
        self._posting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events")
        """Events are posted one at a time, off the workers and off the data planes' pool: they trail, and never
        delay a status write or a write to a data plane (in an incident, hundreds are due at once)."""

    def stop(self) -> None:
        """Events not posted yet are dropped; the one being posted is waited for."""
        self._posting.shutdown(wait=True, cancel_futures=True)

    def forget(self, key: str) -> None:
        with self._lock:
            self._written.pop(key, None)

    # -- Clusters --------------------------------------------------------------------------------------

    def cluster_metadata(self, cluster: Cluster, patch: dict[str, Any], echo: bool = True) -> None:
        """A merge patch of the Cluster's metadata (with the resourceVersion it was decided on, when given); the
        answer is taken in at once (``echo``), so the next pass does not work on the version before."""
        meta = cluster.metadata
        updated = rest.call(self.control, "PATCH", rest.path("Cluster", meta.namespace, meta.name), body=patch,
                            content_type=rest.MERGE_PATCH)
        if echo:
            self._echo("MODIFIED", updated)

    def account_secret(self, cluster: Cluster, account: Account) -> None:
        """Create the control plane's Secret of a system account, owned by the Cluster, with a password drawn from
        the system's secure random source; one already there is kept (its password is never generated again)."""
        meta = cluster.metadata
        name, namespace, uid = meta.name or "", meta.namespace or "default", meta.uid or ""
        body = accounts.secret(account.secret, namespace, {
            **names.labels(name, uid, account.component), accounts.ACCOUNT: account.name},
            {"username": account.name, "password": accounts.generate(account.policy, random.SystemRandom())})
        body["metadata"]["ownerReferences"] = [{"apiVersion": "apps.kubeblocks.io/v1alpha1", "kind": "Cluster",
                                                "name": name, "uid": uid}]
        with contextlib.suppress(ConflictError):  # made already (by an earlier pass): it stays as it is
            rest.call(self.control, "POST", rest.path("Secret", namespace), body=body)

    def annotate(self, cluster: Cluster, annotations: dict[str, str | None]) -> None:
        self.cluster_metadata(cluster, {"metadata": {"annotations": annotations}})

    def release(self, cluster: Cluster) -> None:
        """Remove kbmc's finalizer: the Cluster's deletion completes. Not taken in: its DELETED event may come
        first, and the answer must not bring the Cluster back."""
        meta = cluster.metadata
        self.cluster_metadata(cluster, {"metadata": {"resourceVersion": meta.resource_version, "finalizers": [
            f for f in meta.finalizers if f != names.FINALIZER]}}, echo=False)

    def cluster_status(self, cluster: Cluster, seen: Observation) -> float | None:
        """Write status when it changed. A change of phase or of a condition's status is written at once; a change
        of detail only (an instance's pod phase, a message) within ``spacing`` of the last write waits for the
        rest of that window (returned, in seconds, for the caller to look again), so a Cluster coming up is a
        few writes, not one per pod event. Transition Events follow a write."""
        new, events = status_rules.compute(cluster.status, seen, clock.stamp())
        if status_rules.same(new, cluster.status):
            return None
        meta = cluster.metadata
        key = f"{meta.namespace}/{meta.name}"
        spacing = self.settings.spacing
        wait = self._written.get(key, -spacing) + spacing - time.monotonic()
        if wait > 0 and not status_rules.significant(cluster.status, new):
            return wait
        payload: dict[str, Any] = new.model_dump(by_alias=True, exclude_none=True, mode="json")
        for gone in set(cluster.status.components) - set(new.components):
            payload.setdefault("components", {})[gone] = None  # merge patch: remove components no longer there
        try:
            updated = rest.call(self.control, "PATCH", rest.path("Cluster", meta.namespace, meta.name, "status"),
                                body={"status": payload}, content_type=rest.MERGE_PATCH)
        except NotFoundError:
            return None
        with self._lock:
            self._written[key] = time.monotonic()
        self._echo("STATUS", updated)
        for kind, reason, message in events:  # best effort, off the worker: status is what tools read
            self.post("Cluster", meta.name or "", meta.namespace, kind, reason, message, meta.uid)
        return None

    # -- Events ----------------------------------------------------------------------------------------

    def post(self, kind: str, name: str, namespace: str | None, type_: str, reason: str, message: str,
             uid: str | None = None) -> None:
        """Post an Event about a control-plane object, later and off the caller's thread (best effort)."""
        log.log(logging.WARNING if type_ == "Warning" else logging.INFO, "%s=%s/%s event=%s reason=%s message=%s",
                kind.lower(), namespace or "", name, type_, reason, message)
        self._posting.submit(self.event, kind, name, namespace, type_, reason, message, uid)

    def event(self, kind: str, name: str, namespace: str | None, type_: str, reason: str, message: str,
              uid: str | None = None) -> None:
        """Post an Event about a control-plane object now (best effort)."""
        target_ns = namespace or "default"
        stamp = clock.stamp()
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
        except KbmcError as exc:  # events are best effort
            log.warning("event not posted: %s", exc)

    # -- other kinds' status ---------------------------------------------------------------------------

    def dataplane_status(self, name: str, status: dict[str, Any]) -> None:
        """Merge ``status`` into a DataPlane's (one the control plane does not take is written at the next probe:
        the DataPlane still says otherwise)."""
        try:
            rest.call(self.control, "PATCH", rest.path("DataPlane", name=name, subresource="status"),
                      body={"status": status}, content_type=rest.MERGE_PATCH)
        except KbmcError as exc:
            log.warning("dataplane=%s status write failed: %s", name, exc)

    def definition_finalizers(self, body: Obj, finalizers: list[str]) -> bool:
        """Set a ComponentDefinition's finalizers (as of the version ``body`` is); False when not taken."""
        meta = body["metadata"]
        try:
            rest.call(self.control, "PATCH", rest.path("ComponentDefinition", name=meta["name"]),
                      body={"metadata": {"finalizers": finalizers or None,
                                         "resourceVersion": meta.get("resourceVersion")}},
                      content_type=rest.MERGE_PATCH)
            return True
        except KbmcError as exc:
            log.warning("componentdefinition=%s finalizers not written: %s", meta["name"], exc)
            return False

    def catalog_status(self, kind: str, name: str, status: dict[str, Any]) -> bool:
        """Merge ``status`` into a ComponentDefinition's or ComponentVersion's; False when the control plane did
        not take it."""
        try:
            rest.call(self.control, "PATCH", rest.path(kind, name=name, subresource="status"),
                      body={"status": status}, content_type=rest.MERGE_PATCH)
            return True
        except KbmcError as exc:
            log.warning("%s=%s status write failed: %s", kind.lower(), name, exc)
            return False

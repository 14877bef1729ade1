"""The data-plane set: one ``Plane`` per DataPlane object (client, informers, cache, health), made anew when the
DataPlane or its credentials in the kubeconfig Secret change; the health probe, and each data plane's health
in its DataPlane's status."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kbmc.api.dataplane import DataPlane
from kbmc.core import clock
from kbmc.core import dataplanes as dataplane_rules
from kbmc.core.kubeconfig import from_secret
from kbmc.errors import KubeconfigError
from kbmc.kube.informer import Obj
from kbmc.kube.planes import Health, Plane, PlaneState, context_digest
from kbmc.operator import metrics
from kbmc.operator.writes import Writes
from kbmc.settings import DataPlaneSettings, StatusSettings, Timeouts

log = logging.getLogger("kbmc.operator.dataplanes")


class DataPlanes:
    def __init__(self, settings: DataPlaneSettings, timeouts: Timeouts, status: StatusSettings, writes: Writes,
                 source: Callable[[], dict[str, Obj]], on_change: Callable[[str, set[str]], None],
                 on_any_change: Callable[[], None]) -> None:
        self.settings, self._timeouts, self._status = settings, timeouts, status
        self._writes = writes
        self._source = source
        """The DataPlane objects as last seen (a copy), read under this set's lock: the last sync always sees
        the latest (two events synced at once never leave the older one in force)."""
        self._on_change = on_change
        """Data plane, Cluster uids: objects of those Clusters changed there."""
        self._on_any_change = on_any_change
        """The set of data planes changed, or one answers again: every Cluster is looked at."""
        self._lock = threading.Lock()
        self._planes: dict[str, Plane] = {}
        self._kubeconfig: dict[str, Any] | None = None
        self._kubeconfig_error: str | None = "kubeconfig Secret not read yet"
        self._bodies: dict[str, Obj] = {}
        self.pool = ThreadPoolExecutor(max_workers=settings.connections, thread_name_prefix="plane")
        """Requests to data planes: a pass writes to its data planes in parallel, the probe asks each at once."""

    def all(self) -> dict[str, Plane]:
        """A copy of the set (name -> Plane)."""
        return dict(self._planes)

    def stop(self) -> None:
        with self._lock:
            for plane in self._planes.values():
                plane.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def stopped_parts(self) -> list[str]:
        return [name for plane in self.all().values() for name in plane.stopped_informers()]

    # -- the set ---------------------------------------------------------------------------------------

    def kubeconfig_secret(self, event: str, obj: Obj, where: str) -> None:
        """Take in the kubeconfig Secret (``where`` names it in errors; its text never appears)."""
        if event == "DELETED":
            self._set_kubeconfig(None, f"{where} is missing")
            return
        try:
            parsed = from_secret(obj.get("data"), where)
        except KubeconfigError as exc:
            self._set_kubeconfig(None, str(exc))
            return
        self._set_kubeconfig(parsed, None)

    def _set_kubeconfig(self, kubeconfig: dict[str, Any] | None, error: str | None) -> None:
        with self._lock:
            self._kubeconfig, self._kubeconfig_error = kubeconfig, error
        if error:
            log.warning("kubeconfig error=%s", error)
        self.sync()

    def sync(self) -> None:
        """Bring the running data planes in line with the DataPlane objects and the kubeconfig Secret. One
        context, one DataPlane: a later DataPlane naming a context an earlier one has is refused (it would write
        the same objects twice)."""
        changed = False
        with self._lock:
            self._bodies = self._source()
            wanted = {name: _plane_state(body) for name, body in self._bodies.items()}
            owner: dict[str, str] = {}  # context -> the oldest DataPlane naming it
            for name in sorted(self._bodies, key=lambda n: (
                    self._bodies[n]["metadata"].get("creationTimestamp", ""), n)):
                owner.setdefault(wanted[name][0].context, name)
            planes = dict(self._planes)
            for name in list(planes):
                if name not in wanted:
                    planes.pop(name).stop()
                    changed = True
            for name, (state, recorded) in wanted.items():
                current = planes.get(name)
                first = owner[state.context]
                digest = context_digest(self._kubeconfig, state.context) if first == name else f"taken by {first}"
                if current is not None and (current.state.available, current.state.context, current.config_digest) == (
                        state.available, state.context, digest):
                    current.state = state  # the reason, namespaces or Service defaults: nothing to restart
                    continue
                health = recorded
                if current is not None:  # what was observed carries over; the old Plane's late answers do not
                    current.stop()
                    health = Health(current.health.reachable)
                if first == name:
                    planes[name] = Plane(state, health, self._kubeconfig, self._timeouts, self._on_change,
                                         self._kubeconfig_error)
                else:
                    planes[name] = Plane(state, health, None, self._timeouts, self._on_change,
                                         f"context {state.context} is already the data plane of DataPlane "
                                         f"{first}: one context, one DataPlane")
                    planes[name].config_digest = digest
                log.info("dataplane=%s available=%s context=%s", name, state.available, state.context)
                changed = True
            self._planes = planes
        if changed:
            self._on_any_change()

    # -- health ----------------------------------------------------------------------------------------

    def probe_loop(self, stop: threading.Event) -> None:
        """Probe every available data plane each ``probe_interval`` and report its health; when one answers again,
        every Cluster is looked at (those that skipped it are not polled meanwhile)."""
        contact: dict[str, float] = {}
        while not stop.wait(self.settings.probe_interval if contact else 0.5):
            try:
                planes = list(self.all().values())
                recovered = list(self.pool.map(Plane.probe, [p for p in planes if p.state.available]))
                for plane in planes:
                    self._report(plane, contact)
                if any(recovered):
                    self._on_any_change()
            except Exception:  # the control plane away (a restart): probe again next round, never stop
                log.exception("health probe round failed")

    def _report(self, plane: Plane, contact: dict[str, float]) -> None:
        """Write what changed of a data plane's health to its DataPlane's status: reachable, message, last contact
        (refreshed every ``contact_refresh``) and the conditions."""
        name, health, state = plane.name, plane.health.view(), plane.state
        metrics.DATAPLANE_UP.labels(name).set(1 if health.reachable and state.available else 0)
        metrics.DATAPLANE_AVAILABLE.labels(name).set(1 if state.available else 0)
        body = self._bodies.get(name, {})
        status = body.get("status") or {}
        fresh = time.monotonic() - contact.get(name, 0) < self._status.contact_refresh
        message = health.message or plane.error or ""
        patch: dict[str, Any] = {}
        if not state.available:
            pass  # not asked: nothing new is known of its health
        elif health.reachable and not plane.error:
            if not (status.get("reachable") is True and fresh and not status.get("message")):
                contact[name] = time.monotonic()
                patch = {"reachable": True, "lastContact": clock.stamp(), "serverVersion": health.server_version,
                         "message": None}
        elif not (status.get("reachable") is False and status.get("message") == message):
            patch = {"reachable": False, "message": message}
            contact[name] = time.monotonic()
            self._writes.event("DataPlane", name, None, "Warning", "Unreachable",
                               f"data plane {name} does not answer: {message}")
        generation = body.get("metadata", {}).get("generation")
        said = dataplane_rules.conditions(
            status.get("conditions") or [], available=state.available, reason=state.reason,
            reachable=health.reachable if not plane.error else None, message=message,
            credentials_error=plane.error, generation=generation, now=clock.stamp())
        if not dataplane_rules.same(status.get("conditions") or [], said) or status.get(
                "observedGeneration") != generation:
            patch["conditions"] = [c.model_dump(by_alias=True, exclude_none=True, mode="json") for c in said]
            patch["observedGeneration"] = generation
        if not patch:
            return
        self._writes.dataplane_status(name, patch)
        if patch.get("reachable") is False and status.get("reachable") is not False:
            self._on_change(name, plane.cache.owners())  # its Clusters say so now (answering again: all are queued)


def _plane_state(body: Obj) -> tuple[PlaneState, Health]:
    model = DataPlane.model_validate(body)
    spec = model.spec
    return (PlaneState(name=model.metadata.name or "", context=spec.context, available=spec.available,
                       reason=spec.unavailable_reason or "", allowed_namespaces=tuple(spec.allowed_namespaces),
                       service_annotations=dict(spec.service_annotations)),
            Health(model.status.reachable))

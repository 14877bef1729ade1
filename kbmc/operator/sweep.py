"""Orphans: objects kbmc made for a Cluster that no longer exists in the control plane (its finalizer removed by
hand while its cleanup waited for a data plane, say). Once the control plane's Clusters have been listed, each
data plane is swept when kbmc starts watching it and whenever it answers again after being unreachable: the
workloads, Services and RBAC of such a Cluster are removed; its PVCs, ConfigMaps and Secrets are kept (the
policy they were made under is not known any more, and Halt keeps exactly those). Each removal is reported on
the DataPlane (a Warning ``OrphansRemoved``).
Only objects ``names.made_for`` their Cluster are looked at, and never one whose Cluster uid kbmc knows."""

from __future__ import annotations

import logging
import threading

from kbmc.core import names
from kbmc.core.decide import KEPT_BY_HALT
from kbmc.core.plan import Intent
from kbmc.errors import KbmcError, SweepError
from kbmc.kube.planes import Plane
from kbmc.operator.apply import apply_plane
from kbmc.operator.prepare import Parts

log = logging.getLogger("kbmc.operator.sweep")


class Sweeper(threading.Thread):
    """Sweeps every data plane once it is synced after it (re)appeared or answered again."""

    def __init__(self, parts: Parts, halt: threading.Event) -> None:
        super().__init__(name="sweep", daemon=True)
        self.parts, self.halt = parts, halt
        self._done: dict[str, Plane] = {}
        """Data plane -> the Plane (its informers' generation) swept last; dropped when it stops answering."""

    def run(self) -> None:
        while not self.halt.wait(self.parts.settings.dataplanes.probe_interval):
            if not self.parts.state.clusters_listed.is_set():
                continue
            for plane in self.parts.dataplanes.all().values():
                if plane.health.reachable is False:
                    self._done.pop(plane.name, None)  # answering again later: sweep again
                elif self._done.get(plane.name) is not plane and plane.unusable() is None:
                    try:
                        sweep(self.parts, plane)
                        self._done[plane.name] = plane
                    except KbmcError as exc:  # a data plane failing half-way: the next round tries again
                        log.warning("dataplane=%s sweep failed: %s", plane.name, exc)


def sweep(parts: Parts, plane: Plane) -> None:
    """Remove the objects in ``plane`` of Clusters the control plane no longer has (PVCs, ConfigMaps and Secrets
    kept), and report what was removed and what was kept."""
    uids = parts.state.uids
    for uid in sorted(plane.cache.owners() - set(uids)):
        objects = {key: obj for key, obj in plane.cache.owned_by(uid).items()
                   if names.made_for(*key, labels := obj["metadata"].get("labels") or {}, key[1],
                                     labels.get(names.INSTANCE, ""))
                   and not obj["metadata"].get("deletionTimestamp")}
        if not objects or uid in uids:
            continue
        removed = sorted(key for key in objects if key[0] not in KEPT_BY_HALT)
        if not removed:
            continue  # what Halt keeps, or what is left after an earlier sweep: not an orphan to report again
        kept = sorted(key for key in objects if key[0] in KEPT_BY_HALT)
        some = next(iter(objects.values()))["metadata"]
        cluster = f"{some.get('namespace')}/{(some.get('labels') or {}).get(names.INSTANCE)}"
        _, failure = apply_plane(plane, [Intent("delete", *key) for key in removed], cluster,
                                 parts.settings.dataplanes.unanswered_limit)
        if failure:
            raise SweepError(failure)
        message = (f"Cluster {cluster} (uid {uid}) no longer exists: removed {len(removed)} of its objects in "
                   f"data plane {plane.name}; kept {', '.join(f'{k[0]} {k[2]}' for k in kept) or 'nothing'} "
                   "(delete them by hand if they are not needed)")
        log.warning("dataplane=%s %s", plane.name, message)
        parts.writes.post("DataPlane", plane.name, None, "Warning", "OrphansRemoved", message[:1000])

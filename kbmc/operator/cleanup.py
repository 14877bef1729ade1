"""Deletion of a Cluster, per terminationPolicy, in every data plane; the finalizer goes last.

DoNotTerminate refuses (the Cluster stays until the policy changes). Halt removes workloads, Services and
RBAC but keeps PVCs, Secrets and ConfigMaps. Delete and WipeOut remove everything kbmc created. A data plane
marked unavailable is never touched: it is recorded in ``kbmc.io/pending-cleanup`` and cleaned when it is
marked available again; meanwhile the finalizer stays.
"""

from __future__ import annotations

import json
from typing import Any

from kbmc.api.cluster import Cluster
from kbmc.core import names
from kbmc.core.plan import plan_plane
from kbmc.core.status import Observation, Problem
from kbmc.kube import rest
from kbmc.kube.informer import Obj
from kbmc.operator.apply import apply_plane
from kbmc.operator.reconcile import owned, planes_holding, usable
from kbmc.operator.report import write_status
from kbmc.operator.runtime import Runtime

KEPT_BY_HALT = frozenset({"PersistentVolumeClaim", "ConfigMap", "Secret"})


def cleanup(rt: Runtime, cluster: Cluster, body: Obj) -> float | None:
    meta = cluster.metadata
    if names.FINALIZER not in meta.finalizers:
        return None
    seen = Observation(generation=meta.generation or 0, deleting=True)
    started = meta.annotations.get(names.DELETION_POLICY)
    policy = started if started and started != "DoNotTerminate" else cluster.spec.termination_policy
    if policy == "DoNotTerminate":
        seen.problems.append(Problem("DeletionAllowed", "DoNotTerminate",
                                     "spec.terminationPolicy is DoNotTerminate: the Cluster is kept; set it to "
                                     "Halt, Delete or WipeOut to let the deletion finish"))
        return write_status(rt, cluster, body, seen)
    if started != policy:  # recorded before anything is removed: a deletion half done never changes its rules
        _annotate(rt, cluster, {names.DELETION_POLICY: policy})
    if cluster.spec.termination_policy != policy:
        seen.problems.append(Problem("SpecValid", "DeletionPolicyFixed", (
            f"the deletion continues under terminationPolicy {policy}, the policy it started with; "
            f"spec.terminationPolicy {cluster.spec.termination_policy} would apply to a Cluster not being deleted")))
    keep = KEPT_BY_HALT if policy == "Halt" else frozenset()
    uid = meta.uid or ""
    pending, missing, waiting, failures = [], [], [], []
    for name in sorted(_planes_of_record(cluster) | planes_holding(rt, uid)):
        plane = rt.plane(name)
        reason = usable(plane)
        if plane is None:
            missing.append(name)
            continue
        if not plane.state.available:
            pending.append(name)
            continue
        if reason is not None:
            waiting.append(f"{name} ({reason})")
            continue
        intents = plan_plane([], owned(rt, plane, cluster), keep)
        failure = apply_plane(plane, intents, meta.name or "") if intents else None
        if failure:
            failures.append(failure)
        elif any(k[0] not in keep for k in owned(rt, plane, cluster)):
            waiting.append(f"{name} (objects still terminating)")
    if pending or missing or waiting or failures:
        blocked = []
        if pending:
            blocked.append(f"cleanup waits for data plane(s) {', '.join(pending)} to be marked available; nothing "
                           "there is touched meanwhile")
        if missing:
            blocked.append(f"data plane(s) {', '.join(missing)} no longer exist (DataPlane deleted), so kbmc cannot "
                           "remove this Cluster's objects there: create the DataPlane again (kbmc dataplane join) "
                           f"for kbmc to finish, or remove the finalizer {names.FINALIZER} to leave them")
        if blocked:
            seen.problems.append(Problem("DataPlanesAvailable", "CleanupPending", "; ".join(blocked)))
        if waiting or failures:
            seen.problems.append(Problem("ResourcesApplied", "CleanupInProgress", "; ".join(waiting + failures)))
        _note_pending(rt, cluster, pending + missing)
        deferred = write_status(rt, cluster, body, seen)
        return 2.0 if (waiting or failures) else deferred
    patch: dict[str, Any] = {"metadata": {"resourceVersion": meta.resource_version,
                                          "finalizers": [f for f in meta.finalizers if f != names.FINALIZER]}}
    rest.call(rt.control, "PATCH", rest.path("Cluster", meta.namespace, meta.name), body=patch,
              content_type=rest.MERGE_PATCH)
    return None


def _planes_of_record(cluster: Cluster) -> set[str]:
    """Every data plane the Cluster's instances or shared objects may be in."""
    annotations = cluster.metadata.annotations
    out = {p for p in (annotations.get(names.PLACEMENT) or "").split(",") if p}
    try:
        record = json.loads(annotations.get(names.INSTANCES) or "{}")
        out |= {p for ordinals in record.values() for p in ordinals.values()}
    except (ValueError, AttributeError):
        pass
    return out


def _note_pending(rt: Runtime, cluster: Cluster, pending: list[str]) -> None:
    value = ",".join(pending) or None
    if cluster.metadata.annotations.get(names.PENDING_CLEANUP) != value:
        _annotate(rt, cluster, {names.PENDING_CLEANUP: value})


def _annotate(rt: Runtime, cluster: Cluster, annotations: dict[str, str | None]) -> None:
    rest.call(rt.control, "PATCH", rest.path("Cluster", cluster.metadata.namespace, cluster.metadata.name),
              body={"metadata": {"annotations": annotations}}, content_type=rest.MERGE_PATCH)

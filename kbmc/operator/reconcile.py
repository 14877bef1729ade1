"""One level-triggered pass over a Cluster, the same for create, update, resume, drift and deletion:
**prepare** one snapshot (``kbmc.operator.prepare``), **decide** on it (``kbmc.core.decide``, pure), **commit**
the decision (this module: the only step that writes). Returns when to look again."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from kbmc.api.cluster import Cluster
from kbmc.core import names
from kbmc.core.decide import (
    Again,
    CleanupDecision,
    after_apply,
    cleanup_after_apply,
    decide,
    decide_cleanup,
    record_refused,
)
from kbmc.core.plan import Intent
from kbmc.core.snapshot import Snapshot
from kbmc.core.status import Event
from kbmc.errors import ConflictError, InvalidError, NotFoundError
from kbmc.kube.planes import Plane
from kbmc.operator.apply import apply_all
from kbmc.operator.prepare import Parts, prepare

log = logging.getLogger("kbmc.operator.reconcile")


def run_pass(parts: Parts, key: str) -> Again:
    """A pass over the Cluster ``key``. A write that met a newer version of the Cluster means looking again; one
    that found the Cluster gone ends its work (its DELETED event may have been missed while kopf's watches
    restarted)."""
    try:
        prepared = prepare(parts, key)
        if prepared is None:
            return Again()
        snap, planes = prepared
        if snap.cluster.metadata.deletion_timestamp:
            return _commit_cleanup(parts, snap, planes, decide_cleanup(snap))
        return _commit(parts, snap, planes)
    except ConflictError as exc:
        if exc.kind != "clusters":
            raise
        return Again(parts.settings.queue.conflict_retry)
    except NotFoundError as exc:
        if exc.kind != "clusters":
            raise
        parts.forget(key)  # its DELETED event may have been missed while kopf's watches restarted
        return Again()


def _commit(parts: Parts, snap: Snapshot, planes: Mapping[str, Plane]) -> Again:
    decision = decide(snap, parts.settings.queue)
    cluster, writes = snap.cluster, parts.writes
    _report(parts, cluster, decision.events)
    parts.state.remember(cluster.metadata.uid or "", decision.record, decision.reported)
    if decision.metadata is not None:
        try:
            writes.cluster_metadata(cluster, decision.metadata)
        except InvalidError as exc:
            return Again.soonest(writes.cluster_status(cluster, record_refused(decision, exc.api_message)),
                                 Again(backoff=True))
    for account in decision.prepared.accounts:  # the pods that read them wait; the new Secret's event comes back
        writes.account_secret(cluster, account)
    done, failures = _apply(parts, cluster, planes, decision.intents)
    seen, again = after_apply(snap, decision, done, failures)
    deferred = writes.cluster_status(cluster, seen)
    if decision.status_first:
        return Again(deferred or parts.settings.queue.status_first)
    return Again.soonest(again, deferred)


def _commit_cleanup(parts: Parts, snap: Snapshot, planes: Mapping[str, Plane],
                    decision: CleanupDecision | None) -> Again:
    if decision is None:
        return Again()
    cluster, writes = snap.cluster, parts.writes
    _report(parts, cluster, decision.events)
    parts.state.remember(cluster.metadata.uid or "", None, decision.reported)
    if decision.policy:  # recorded before anything is removed: a deletion half done never changes its rules
        writes.annotate(cluster, {names.DELETION_POLICY: decision.policy})
    _, failures = _apply(parts, cluster, planes, decision.intents)
    if decision.done:
        writes.release(cluster)
        return Again()
    seen, soon = cleanup_after_apply(decision, failures)
    if decision.pending is not None:
        writes.annotate(cluster, {names.PENDING_CLEANUP: decision.pending or None})
    deferred = writes.cluster_status(cluster, seen)
    return Again(parts.settings.queue.cleanup_retry if soon else deferred)


def _report(parts: Parts, cluster: Cluster, events: list[Event]) -> None:
    meta = cluster.metadata
    for type_, reason, message in events:
        parts.writes.post("Cluster", meta.name or "", meta.namespace, type_, reason, message, meta.uid)


def _apply(parts: Parts, cluster: Cluster, planes: Mapping[str, Plane], intents: Mapping[str, list[Intent]]
           ) -> tuple[dict[str, list[Intent]], dict[str, str]]:
    """The intents through the data planes' clients as the snapshot found them."""
    if not intents:
        return {}, {}
    return apply_all(parts.dataplanes.pool, planes, intents, cluster.metadata.name or "",
                     parts.settings.dataplanes.unanswered_limit)

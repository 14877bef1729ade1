"""Write a Cluster's status when it changed, and post Events for transitions only."""

from __future__ import annotations

import logging
import time
from typing import Any

from kbmc.api.cluster import Cluster
from kbmc.core import status as status_rules
from kbmc.core.status import Observation
from kbmc.errors import ApiError
from kbmc.kube import rest
from kbmc.kube.informer import Obj
from kbmc.operator.runtime import Runtime, now

log = logging.getLogger("kbmc.operator.report")
STATUS_SPACING = 1.0


def write_status(rt: Runtime, cluster: Cluster, body: Obj, seen: Observation) -> float | None:
    """Write status when it changed. A change of phase or of a condition's status is written at once; a change
    of detail only (an instance's pod phase, a message) within ``STATUS_SPACING`` of the last write waits for
    the rest of that window (returned, in seconds, for the caller to look again), so a Cluster coming up is a
    few writes, not one per pod event."""
    new, events = status_rules.compute(cluster.status, seen, now())
    if status_rules.same(new, cluster.status):
        return None
    meta = cluster.metadata
    key = f"{meta.namespace}/{meta.name}"
    wait = rt.status_written.get(key, -STATUS_SPACING) + STATUS_SPACING - time.monotonic()
    if wait > 0 and not status_rules.significant(cluster.status, new):
        return wait
    payload: dict[str, Any] = new.model_dump(by_alias=True, exclude_none=True, mode="json")
    for gone in set(cluster.status.components) - set(new.components):
        payload.setdefault("components", {})[gone] = None  # merge patch: remove components no longer there
    try:
        updated = rest.call(rt.control, "PATCH", rest.path("Cluster", meta.namespace, meta.name, "status"),
                            body={"status": payload}, content_type=rest.MERGE_PATCH)
    except ApiError as exc:
        if not exc.not_found:
            raise
        return None
    rt.status_written[key] = time.monotonic()
    rt.observe_cluster("STATUS", updated)
    for kind, reason, message in events:  # best effort, off the worker: status is what tools read
        rt.posting.submit(rt.event, "Cluster", meta.name or "", meta.namespace, kind, reason, message, meta.uid)
        log.info("cluster=%s/%s event=%s reason=%s message=%s", meta.namespace, meta.name, kind, reason, message)
    return None

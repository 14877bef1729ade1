"""Write a Cluster's status when it changed, and post Events for transitions only."""

from __future__ import annotations

import logging
from typing import Any

from kbmc.api.cluster import Cluster
from kbmc.core import status as status_rules
from kbmc.core.status import Observation
from kbmc.errors import ApiError
from kbmc.kube import rest
from kbmc.kube.informer import Obj
from kbmc.operator.runtime import Runtime, now

log = logging.getLogger("kbmc.operator.report")


def write_status(rt: Runtime, cluster: Cluster, body: Obj, seen: Observation) -> None:
    new, events = status_rules.compute(cluster.status, seen, now())
    if status_rules.same(new, cluster.status):
        return
    payload: dict[str, Any] = new.model_dump(by_alias=True, exclude_none=True, mode="json")
    for gone in set(cluster.status.components) - set(new.components):
        payload.setdefault("components", {})[gone] = None  # merge patch: remove components no longer there
    meta = cluster.metadata
    try:
        updated = rest.call(rt.control, "PATCH", rest.path("Cluster", meta.namespace, meta.name, "status"),
                            body={"status": payload}, content_type=rest.MERGE_PATCH)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return
    rt.observe_cluster("STATUS", updated)
    for kind, reason, message in events:  # best effort, off the worker: status is what tools read
        rt.pool.submit(rt.event, "Cluster", meta.name or "", meta.namespace, kind, reason, message, meta.uid)
        log.info("cluster=%s/%s event=%s reason=%s message=%s", meta.namespace, meta.name, kind, reason, message)

"""Carry out one data plane's intents, in order, with the data plane's own client; stop at the first
failure and report it naming the object and the data plane. The cache is updated from each answer, so the
next pass does not repeat a write the watch has not delivered yet."""

from __future__ import annotations

import datetime
import logging

import urllib3

from kbmc.core.plan import Intent
from kbmc.errors import ApiError
from kbmc.kube import rest
from kbmc.kube.informer import slim
from kbmc.kube.planes import Plane
from kbmc.operator import metrics

log = logging.getLogger("kbmc.operator.apply")
UNANSWERED_LIMIT = 3
"""Writes in a row without an answer before a data plane counts as unreachable: one slow answer from a busy
API server is not an outage, and marking it would make every Cluster on it report (and write) twice."""


def apply_plane(plane: Plane, intents: list[Intent], cluster: str) -> str | None:
    """Apply ``intents``; None when all succeeded, else what failed (for a condition message)."""
    for intent in intents:
        try:
            _apply(plane, intent)
            plane.state.unanswered = 0
        except Exception as exc:
            metrics.API_ERRORS.labels(plane.name, intent.action).inc()
            if isinstance(exc, urllib3.exceptions.HTTPError):
                plane.state.unanswered += 1
                if plane.state.unanswered >= UNANSWERED_LIMIT:
                    # every other Cluster skips this data plane until the next probe answers
                    plane.state.reachable = False
                    plane.state.message = f"{type(exc).__name__}: {exc}"[:300]
            message = f"{intent.describe()} in data plane {plane.name}: {exc}"
            log.warning("cluster=%s dataplane=%s failed=%s", cluster, plane.name, message)
            return message
        log.info("cluster=%s dataplane=%s %s", cluster, plane.name, intent.describe())
    return None


def _apply(plane: Plane, intent: Intent) -> None:
    metrics.API_REQUESTS.labels(plane.name, intent.action).inc()
    if intent.action == "create":
        assert intent.body is not None
        try:
            created = plane.call("POST", rest.path(intent.kind, intent.namespace), body=intent.body)
        except ApiError as exc:
            if exc.status == 409:
                return  # already there: the watch will bring it
            if exc.status == 404 and "namespaces" in exc.api_message:
                _create_namespace(plane, intent.namespace)
                created = plane.call("POST", rest.path(intent.kind, intent.namespace), body=intent.body)
            else:
                raise
        plane.cache.upsert(slim({**created, "kind": intent.kind}))
    elif intent.action == "patch":
        patched = plane.call("PATCH", rest.path(intent.kind, intent.namespace, intent.name), body=intent.body,
                             content_type=rest.MERGE_PATCH)
        plane.cache.upsert(slim({**patched, "kind": intent.kind}))
    else:
        try:
            plane.call("DELETE", rest.path(intent.kind, intent.namespace, intent.name),
                       body={"propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status != 404:
                raise
        plane.cache.mark_deleting(intent.kind, intent.namespace, intent.name,
                                  datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _create_namespace(plane: Plane, namespace: str) -> None:
    metrics.API_REQUESTS.labels(plane.name, "create").inc()
    try:
        plane.call("POST", rest.path("Namespace"), body={"metadata": {"name": namespace}})
    except ApiError as exc:
        if exc.status != 409:
            raise

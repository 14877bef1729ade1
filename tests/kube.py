"""Test helpers over the real API: wait for a condition through a watch (never a polling loop)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch

from kbmc.kube.wait import wait_object

__all__ = ["Clusters", "Obj", "condition", "wait_for", "wait_object"]

Clusters = dict[str, client.ApiClient]
Obj = dict[str, Any]


def wait_for(list_fn: Callable[..., Any], predicate: Callable[[Obj | None], bool], *, name: str,
             timeout: float = 30, **kwargs: Any) -> Obj | None:
    """Watch one named object until ``predicate(obj)`` holds (obj is None once it is gone); return it."""
    selector = f"metadata.name={name}"
    data = json.loads(list_fn(field_selector=selector, _preload_content=False, **kwargs).data)
    current: Obj | None = data["items"][0] if data["items"] else None
    if predicate(current):
        return current
    stream = watch.Watch()
    for event in stream.stream(list_fn, field_selector=selector, resource_version=data["metadata"]["resourceVersion"],
                               timeout_seconds=int(timeout), _request_timeout=(2, timeout + 5), **kwargs):
        current = None if event["type"] == "DELETED" else event["raw_object"]
        if predicate(current):
            stream.stop()
            return current
    raise AssertionError(f"{name}: condition not met within {timeout} s; last seen: {current}")


def condition(obj: Obj | None, kind: str) -> bool:
    """True when ``obj`` has a status condition ``kind`` with status True."""
    conditions = (obj or {}).get("status", {}).get("conditions") or []
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)

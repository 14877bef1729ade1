"""Wait for one object to reach a state, through a watch (never a polling loop)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client

from kbmc.kube import rest

Obj = dict[str, Any]


def wait_object(api: client.ApiClient, kind: str, namespace: str | None, name: str,
                predicate: Callable[[Obj | None], bool], timeout: float = 60) -> Obj | None:
    """Return the object once ``predicate(obj)`` holds (obj is None once it is gone); raise TimeoutError."""
    listed = rest.request(api, "GET", rest.path(kind, namespace), query={"fieldSelector": f"metadata.name={name}"})
    current: Obj | None = listed["items"][0] if listed["items"] else None
    if predicate(current):
        return current
    response = rest.request(api, "GET", rest.path(kind, namespace), stream=True, timeout=(2, timeout + 5), query={
        "fieldSelector": f"metadata.name={name}", "watch": "true", "timeoutSeconds": int(timeout),
        "resourceVersion": listed["metadata"]["resourceVersion"]})
    try:
        for event in rest.events(response):
            current = None if event["type"] == "DELETED" else event["object"]
            if predicate(current):
                return current
    finally:
        rest.drop(response)
    raise TimeoutError(f"{kind} {namespace or ''}/{name}: condition not met within {timeout:.0f} s; "
                       f"last seen: {json.dumps((current or {}).get('status'))[:300]}")

"""Install CustomResourceDefinitions and wait until the API server serves them."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client, watch

from kbmc.kube import rest


def apply_crds(api: client.ApiClient, crds: list[dict[str, Any]], timeout: float = 30) -> None:
    """Server-side apply every CRD (one field manager), then wait until each is Established."""
    ext = client.ApiextensionsV1Api(api)
    for crd in crds:
        ext.patch_custom_resource_definition(
            crd["metadata"]["name"], crd, field_manager=rest.FIELD_MANAGER, force=True,
            _content_type="application/apply-patch+yaml", _preload_content=False)
    pending = {crd["metadata"]["name"] for crd in crds}
    listing = json.loads(ext.list_custom_resource_definition(_preload_content=False).data)
    pending -= {c["metadata"]["name"] for c in listing["items"] if _established(c)}
    if not pending:
        return
    stream = watch.Watch()
    for event in stream.stream(ext.list_custom_resource_definition, timeout_seconds=int(timeout),
                               resource_version=listing["metadata"]["resourceVersion"],
                               _request_timeout=(2, timeout + 5)):
        obj = event["raw_object"]
        if _established(obj):
            pending.discard(obj["metadata"]["name"])
        if not pending:
            stream.stop()
            return
    raise TimeoutError(f"CRDs not Established within {timeout:.0f} s: {', '.join(sorted(pending))}")


def _established(crd: dict[str, Any]) -> bool:
    return any(c["type"] == "Established" and c["status"] == "True"
               for c in crd.get("status", {}).get("conditions") or [])

"""Install CustomResourceDefinitions, wait until the API server serves them, and tell whether a custom kind
is served now."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client, watch

from kbmc.core.names import MANAGED_BY, MANAGER
from kbmc.errors import ApiError, InstallError, KindNotServedError, NoAnswerError, NotFoundError
from kbmc.kube import rest


def apply_crds(api: client.ApiClient, crds: list[dict[str, Any]], timeout: float = 30, force: bool = False) -> None:
    """Server-side apply every CRD (one field manager), then wait until each is Established. A CRD of the same
    name that kbmc did not install (an existing KubeBlocks) is refused, all of them named, before anything is
    written: applying would replace its schema under its own controllers. ``force`` takes them over."""
    foreign = [name for name, ours in owned(api, [c["metadata"]["name"] for c in crds]).items() if not ours]
    if foreign and not force:
        raise InstallError(f"CRD(s) {', '.join(foreign)} exist and were not installed by kbmc (KubeBlocks?): kbmc "
                           "would replace them; uninstall what installed them, or pass --force to take them over")
    ext = client.ApiextensionsV1Api(api)
    for crd in crds:
        ext.patch_custom_resource_definition(
            crd["metadata"]["name"], crd, field_manager=rest.FIELD_MANAGER, force=True,
            _content_type="application/apply-patch+yaml", _preload_content=False)
    pending = {crd["metadata"]["name"] for crd in crds}
    listing = json.loads(ext.list_custom_resource_definition(_preload_content=False).data)
    pending -= {c["metadata"]["name"] for c in listing["items"] if established(c)}
    if not pending:
        return
    stream = watch.Watch()
    for event in stream.stream(ext.list_custom_resource_definition, timeout_seconds=int(timeout),
                               resource_version=listing["metadata"]["resourceVersion"],
                               _request_timeout=(2, timeout + 5)):
        obj = event["raw_object"]
        if established(obj):
            pending.discard(obj["metadata"]["name"])
        if not pending:
            stream.stop()
            return
    raise TimeoutError(f"CRDs not Established within {timeout:.0f} s: {', '.join(sorted(pending))}")


def owned(api: client.ApiClient, names: list[str]) -> dict[str, bool]:
    """Of the CRDs ``names``, those that exist: whether kbmc installed each (its label, or its server-side
    apply). Install refuses to replace the others, and uninstall leaves them."""
    out = {}
    for name in names:
        try:
            meta = rest.call(api, "GET", rest.path("CustomResourceDefinition", name=name))["metadata"]
        except NotFoundError:
            continue
        out[name] = (meta.get("labels") or {}).get(MANAGED_BY) == MANAGER or any(
            f.get("manager") == rest.FIELD_MANAGER and f.get("operation") == "Apply" for f in meta.get("managedFields")
            or [])
    return out


def established(crd: dict[str, Any]) -> bool:
    return any(c["type"] == "Established" and c["status"] == "True"
               for c in crd.get("status", {}).get("conditions") or [])


@dataclass(frozen=True)
class Listing:
    """Every object of one kind as the API server listed it."""

    items: list[dict[str, Any]]
    version: str
    """The list's resourceVersion; "" when the kind's CRD is not installed (then nothing of it exists)."""

    @property
    def installed(self) -> bool:
        return bool(self.version)


def crd_name(kind: str) -> str:
    """The name of the CRD that defines a custom ``kind`` (``clusters.apps.kubeblocks.io``)."""
    spec = rest.KINDS[kind]
    return f"{spec.plural}.{spec.prefix.split('/')[2]}"


def list_served(api: client.ApiClient, kind: str, timeout: Any = (1, 30)) -> Listing:
    """List every object of a custom ``kind`` once the API server serves it as it does in steady state: the
    kind is in its group's discovery (what kopf reads to decide what to watch) and answers a list. A kind whose
    CRD does not exist lists as empty and not installed; anything else (a starting server's 503 or bare 404,
    no answer) raises ``KindNotServedError``."""
    spec, crd = rest.KINDS[kind], crd_name(kind)
    try:
        discovery = rest.request(api, "GET", spec.prefix, timeout=timeout)
        if spec.plural in {r.get("name") for r in discovery.get("resources") or []}:
            body = rest.request(api, "GET", rest.path(kind), timeout=timeout)
            return Listing(list(body.get("items") or []), str(body["metadata"]["resourceVersion"]))
        failure: Exception = KindNotServedError(f"not in the discovery of {spec.prefix}")
    except (ApiError, NoAnswerError) as exc:
        failure = exc
    try:
        rest.request(api, "GET", rest.path("CustomResourceDefinition", name=crd), timeout=timeout)
    except NotFoundError:
        return Listing([], "")
    except (ApiError, NoAnswerError):
        pass
    reason = (f"{failure.status} {failure.api_message.strip()}" if isinstance(failure, ApiError) else
              str(failure) if isinstance(failure, KindNotServedError) else "no answer")
    raise KindNotServedError(f"{crd}: {reason}"[:300]) from failure

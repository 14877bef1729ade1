"""kopf at the edge: it watches Clusters, ComponentDefinitions and DataPlanes in the control plane and
hands each event to the runtime, which queues a level-triggered reconcile. Handlers are event handlers
only, so kopf writes nothing of its own (no finalizers, no progress annotations): the finalizer and every
write are kbmc's."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

import kopf

from kbmc.kube.client import user_agent
from kbmc.operator import metrics
from kbmc.operator.runtime import Runtime
from kbmc.settings import Settings

log = logging.getLogger("kbmc.operator")


@dataclass(frozen=True)
class _Connection(kopf.ConnectionInfo):
    """kopf's connection, with kbmc's user agent so audit logs tell kbmc's requests apart."""

    def as_http_headers(self) -> dict[str, str]:
        return {**super().as_http_headers(), "User-Agent": user_agent("operator/kopf")}


class _NoDiffBase(kopf.DiffBaseStorage):
    """kopf computes a deep-copied "essence" of every event for change handlers; kbmc has none, and that copy
    was a quarter of kopf's CPU per event."""

    def build(self, **_: Any) -> kopf.BodyEssence:
        return {}

    def fetch(self, **_: Any) -> kopf.BodyEssence | None:
        return None

    def store(self, **_: Any) -> None:
        return None


def build_registry(rt: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.watching.server_timeout = 60
        settings.watching.client_timeout = 90
        settings.networking.request_timeout = 30
        settings.persistence.finalizer = "kbmc.io/kopf-unused"
        settings.persistence.diffbase_storage = _NoDiffBase()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        config = rt.control.configuration
        token = (config.api_key.get("BearerToken") or config.api_key.get("authorization") or "")
        return _Connection(server=config.host, ca_path=config.ssl_ca_cert, insecure=not config.verify_ssl,
                           scheme="Bearer", token=token.removeprefix("Bearer "), default_namespace="default")

    @kopf.on.event("apps.kubeblocks.io", "v1alpha1", "clusters", registry=registry)
    def cluster(event: kopf.RawEvent, **_: Any) -> None:
        rt.observe_cluster(event.get("type") or "ADDED", dict(event["object"]))

    @kopf.on.event("apps.kubeblocks.io", "v1alpha1", "componentdefinitions", registry=registry)
    def definition(event: kopf.RawEvent, **_: Any) -> None:
        rt.observe_definition(event.get("type") or "ADDED", dict(event["object"]))

    @kopf.on.event("kbmc.io", "v1alpha1", "dataplanes", registry=registry)
    def dataplane(event: kopf.RawEvent, **_: Any) -> None:
        rt.observe_dataplane(event.get("type") or "ADDED", dict(event["object"]))

    return registry


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run the operator until SIGINT / SIGTERM (or ``stop``)."""
    rt = Runtime(settings)
    metrics.serve(settings.metrics_port)
    rt.start()
    liveness = f"http://127.0.0.1:{settings.liveness_port}/healthz" if settings.liveness_port else None
    log.info("operator started namespace=%s secret=%s contexts=%s", settings.namespace, settings.kubeconfig_secret,
             ",".join(settings.contexts) or "-")
    try:
        asyncio.run(_operate(rt, liveness, stop))
    finally:
        rt.stop()


async def _operate(rt: Runtime, liveness: str | None, stop: threading.Event | None) -> None:
    flag: asyncio.Event | None = None
    if stop is not None:
        flag = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(target=lambda: (stop.wait(), loop.call_soon_threadsafe(flag.set)), daemon=True).start()
    await kopf.operator(registry=build_registry(rt), clusterwide=True, standalone=True,
                        liveness_endpoint=liveness, stop_flag=flag)

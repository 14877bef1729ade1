"""``kbmc dev demo``: the bed, kbmc installed as users install it (the operator's Deployment, two replicas run
by the control plane's node agent as processes of kbmc's image), and a real etcd Cluster (or, with ``--engine
redis``, Redis with Sentinel) across three data planes, in one command."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbmc import settings
from kbmc.dev.bed import CONTROL, Bed, BedState
from kbmc.errors import ConflictError
from kbmc.kube import rest
from kbmc.kube.client import new_client, user_agent
from kbmc.kube.wait import wait_object
from kbmc.ops import install

NAMESPACE = settings.NAMESPACE
SECRET = settings.KUBECONFIG_SECRET
CLUSTER = "demo-etcd"
REDIS_CLUSTER = "demo-redis"
ENGINES = ("etcd", "redis")


def _component(name: str, definition: str, service: str) -> dict[str, Any]:
    """Three replicas, a small volume, and a LoadBalancer pod service (unique) for peering across clusters."""
    return {
        "name": name, "componentDef": definition, "replicas": 3,
        "resources": {"limits": {"cpu": "100m", "memory": "100M"}, "requests": {"cpu": "100m", "memory": "100M"}},
        "volumeClaimTemplates": [{"name": "data", "spec": {"accessModes": ["ReadWriteOnce"],
                                                           "resources": {"requests": {"storage": "1Gi"}}}}],
        "services": [{"name": service, "serviceType": "LoadBalancer", "podService": True,
                      "annotations": {"apps.kubeblocks.io/multi-cluster-service-placement": "unique"}}],
    }


def cluster_manifest(planes: list[str], engine: str = "etcd") -> dict[str, Any]:
    """The spec's cross-cloud example (LoadBalancer pod services, unique), named; for redis, KubeBlocks'
    redis + redis-sentinel form."""
    components = ([_component("etcd", "etcd-0.9.0", "peer")] if engine == "etcd" else [
        _component("redis", "redis-7", "redis-lb-advertised"),
        _component("redis-sentinel", "redis-sentinel-7", "sentinel-lb-advertised")])
    return {
        "apiVersion": "apps.kubeblocks.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": CLUSTER if engine == "etcd" else REDIS_CLUSTER, "namespace": "default",
                     "annotations": {"apps.kubeblocks.io/multi-cluster-placement": ",".join(planes)}},
        "spec": {"terminationPolicy": "WipeOut", "componentSpecs": components},
    }


def run(bed: Bed, state: BedState, say: Callable[[str], None], engine: str = "etcd",
        redis_cli: Path | None = None) -> dict[str, Any]:
    """Install kbmc into the bed, start the operator, create the Cluster and wait until it runs (for redis, until
    every replica has the primary's data too: ``redis_cli`` asks them)."""
    control = new_client(bed.kubeconfig, CONTROL, agent=user_agent("dev demo"))
    planes = [c.name for c in state.clusters if c.role == "data-plane"]
    _create(control, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    _create(control, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET, "namespace": NAMESPACE},
                      "data": {"kubeconfig": base64.b64encode(bed.kubeconfig.read_bytes()).decode()}})
    say(f"Secret {NAMESPACE}/{SECRET} holds the data planes' kubeconfig")
    install.install(control, install.Options(kubeconfig_secret=SECRET, contexts=planes, namespace=NAMESPACE), say)
    manifest = cluster_manifest(planes[:3], engine)
    _create(control, manifest)
    name = manifest["metadata"]["name"]
    say(f"Cluster default/{name} created; waiting for " + (
        "the etcd members to form their raft group" if engine == "etcd" else
        "the redis primary, its replicas and the sentinels"))
    cluster = wait_object(control, "Cluster", "default", name,
                          lambda c: ((c or {}).get("status") or {}).get("phase") == "Running", timeout=240)
    assert cluster is not None
    if engine == "redis":
        assert redis_cli is not None, "the redis demo needs redis-cli"
        _wait_replicas_in_sync(control, cluster, redis_cli)
        say("every replica has synchronised with the primary")
    return cluster


def _wait_replicas_in_sync(control: Any, cluster: dict[str, Any], redis_cli: Path, timeout: float = 60) -> None:
    """Until every secondary's link to the primary is up and its first synchronisation done: a replica serves
    its old (here empty) data set while it loads the primary's, so a read there would miss what the demo's
    first command writes. Running says only that each member has a role."""
    name = cluster["metadata"]["name"]
    secret = rest.call(control, "GET", rest.path("Secret", "default", f"{name}-redis-account-default"))
    env = {**os.environ, "REDISCLI_AUTH": base64.b64decode(secret["data"]["password"]).decode()}
    replicas = [i["addresses"][0] for i in cluster["status"]["components"]["redis"]["instances"]
                if i.get("role") == "secondary" and i.get("addresses")]
    deadline = time.monotonic() + timeout
    while True:
        waiting = [a for a in replicas if not _in_sync(redis_cli, a, env)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"Cluster default/{name}: the replicas at {', '.join(waiting)} have not synchronised "
                               f"with the primary within {timeout:.0f} s")
        time.sleep(0.2)


def _in_sync(redis_cli: Path, address: str, env: dict[str, str]) -> bool:
    try:
        info = subprocess.run([str(redis_cli), "-h", address, "info", "replication"], capture_output=True,
                              text=True, env=env, timeout=5, check=False).stdout
    except subprocess.TimeoutExpired:  # a member too busy to answer is not in sync yet
        return False
    fields = dict(line.strip().split(":", 1) for line in info.splitlines() if ":" in line)
    return fields.get("master_link_status") == "up" and fields.get("master_sync_in_progress") == "0"


def _create(api: Any, body: dict[str, Any]) -> None:
    meta = body["metadata"]
    with contextlib.suppress(ConflictError):
        rest.call(api, "POST", rest.path(body["kind"], meta.get("namespace")), body=body)


def etcdctl_hint(bed_bin: Path, addresses: list[str]) -> str:
    endpoints = ",".join(f"http://{a}:2379" for a in addresses)
    return f"ETCDCTL_API=3 {bed_bin / 'etcdctl'} --endpoints={endpoints}"




"""Helpers for operator tests: Cluster manifests, what exists in each data plane, waiting on status."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from kbmc.dev.bed import Bed
from kbmc.dev.sandbox import OPT_OUT
from kbmc.kube import rest
from kbmc.kube.planes import MANAGED_KINDS
from tests.kube import Clusters, Obj, wait_object

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "examples"
PLANES = ("k8s-1", "k8s-2", "k8s-3")


REPORTED_ETCD = "etcd-noagent-0.9.0"
"""The etcd addon without its lifecycle actions (``tests.operator_env.install`` creates it): for pods the node
agents only report Running, where no agent runs a roleProbe or an action (day 2 is tested on real processes)."""


def seed(name: str, namespace: str, cluster_name: str, processes: bool = False, **changes: Any) -> Obj:
    """A seed example with a fixed name (instead of generateName) in ``namespace``. Its etcd pods are only
    reported Running by the node agents unless ``processes``, and then use ``REPORTED_ETCD`` (without processes
    no agent answers the addon's actions, and no member resolves its peers' host names)."""
    body: Obj = yaml.safe_load((SEEDS / name).read_text())
    body["metadata"].pop("generateName", None)
    body["metadata"].update(name=cluster_name, namespace=namespace)
    component = body["spec"]["componentSpecs"][0]
    if not processes:
        component["annotations"] = {OPT_OUT: "false"}
        component["componentDef"] = REPORTED_ETCD
    for key, value in changes.items():
        if key == "placement":
            if value is None:
                body["metadata"]["annotations"].pop("apps.kubeblocks.io/multi-cluster-placement")
            else:
                body["metadata"]["annotations"]["apps.kubeblocks.io/multi-cluster-placement"] = value
        elif key == "terminationPolicy":
            body["spec"]["terminationPolicy"] = value
        else:
            component[key] = value
    return copy.deepcopy(body)


def kbmc(bed: Bed, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the kbmc CLI against the bed's control plane, as a user would."""
    return subprocess.run([sys.executable, "-m", "kbmc", *args, "--kubeconfig", str(bed.kubeconfig),
                           "--context", "control"], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200"})


def create_cluster(control: client.ApiClient, body: Obj) -> Obj:
    created: Obj = rest.call(control, "POST", rest.path("Cluster", body["metadata"]["namespace"]), body=body)
    return created


def get_cluster(control: client.ApiClient, namespace: str, name: str) -> Obj:
    found: Obj = rest.call(control, "GET", rest.path("Cluster", namespace, name))
    return found


def patch_cluster(control: client.ApiClient, namespace: str, name: str, patch: Obj) -> None:
    rest.call(control, "PATCH", rest.path("Cluster", namespace, name), body=patch, content_type=rest.MERGE_PATCH)


def set_replicas(control: client.ApiClient, namespace: str, name: str, replicas: int) -> None:
    rest.call(control, "PATCH", rest.path("Cluster", namespace, name), content_type=rest.JSON_PATCH,
              body=[{"op": "replace", "path": "/spec/componentSpecs/0/replicas", "value": replicas}])


def wait_cluster(control: client.ApiClient, namespace: str, name: str, predicate: Callable[[Obj | None], bool],
                 timeout: float = 60) -> Obj | None:
    return wait_object(control, "Cluster", namespace, name, predicate, timeout)


def phase_is(phase: str, generation: bool = True) -> Callable[[Obj | None], bool]:
    def check(obj: Obj | None) -> bool:
        status = (obj or {}).get("status") or {}
        current = not generation or status.get("observedGeneration") == (obj or {}).get("metadata", {}).get(
            "generation")
        return status.get("phase") == phase and current
    return check


def wait_event(control: client.ApiClient, namespace: str, name: str, predicate: Callable[[Obj], bool],
               timeout: float = 30) -> Obj:
    """The first Event about object ``name`` for which ``predicate`` holds, as it is posted (kbmc posts Events
    after the status write they follow, off its workers: they trail)."""
    selector = f"involvedObject.name={name}"
    listed = rest.call(control, "GET", rest.path("Event", namespace), query={"fieldSelector": selector})
    found = next((e for e in listed["items"] if predicate(e)), None)
    if found is not None:
        return found
    response = rest.request(control, "GET", rest.path("Event", namespace), stream=True, timeout=(2, timeout + 5),
                            query={"fieldSelector": selector, "watch": "true", "timeoutSeconds": int(timeout),
                                   "resourceVersion": listed["metadata"]["resourceVersion"]})
    try:
        for event in rest.events(response):
            if event["type"] != "DELETED" and predicate(event["object"]):
                return dict(event["object"])
    finally:
        rest.drop(response)
    raise TimeoutError(f"no such Event about {namespace}/{name} within {timeout:.0f} s; seen: "
                       f"{[e.get('reason') for e in listed['items']]}")


def condition(obj: Obj | None, kind: str) -> dict[str, Any] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            found: dict[str, Any] = item
            return found
    return None


def objects(clusters: Clusters, plane: str, namespace: str, instance: str) -> dict[str, list[str]]:
    """Kind -> sorted names of the objects kbmc made for Cluster ``instance`` in one data plane."""
    out: dict[str, list[str]] = {}
    for kind in MANAGED_KINDS:
        listed = rest.call(clusters[plane], "GET", rest.path(kind, namespace),
                           query={"labelSelector": f"app.kubernetes.io/managed-by=kbmc,"
                                                   f"app.kubernetes.io/instance={instance}"})
        names = sorted(i["metadata"]["name"] for i in listed["items"] if not i["metadata"].get("deletionTimestamp"))
        if names:
            out[kind] = names
    return out


def record(cluster: Obj) -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = json.loads(cluster["metadata"]["annotations"]["kbmc.io/instance-placement"])
    return loaded


def read(clusters: Clusters, plane: str, kind: str, namespace: str, name: str) -> Obj:
    found: Obj = rest.call(clusters[plane], "GET", rest.path(kind, namespace, name))
    return found

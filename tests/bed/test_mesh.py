"""The mesh agents play Cilium ClusterMesh's global services and the cluster DNS for pods run as processes: what
a pod resolves, read from the pod itself (glibc's ``getent hosts`` in its own mount namespace, streamed from its
log through the kubelet API).

Matrix: a global Service resolves, in a data plane without a backend of its own, to another data plane's
backend, under all four names | a non-global Service resolves to its own data plane's backends only (none: not at
all) | ``service.cilium.io/shared: "false"`` keeps a data plane's backends at home | kept current: a second
backend appears (a name with a backend keeps it; one without gets it), the first goes (the name moves to the
second).
"""

from __future__ import annotations

import json
import time
from typing import Any

from kbmc.kube import rest
from tests.kube import Clusters, Obj, condition, wait_object

IMAGE = "docker.io/apecloud/etcd:v3.5.6"  # an image the bed runs as processes; the pods use the host's tools
NAMES = ("web", "web.{ns}", "web.{ns}.svc", "web.{ns}.svc.cluster.local", "plain", "home")


def _pod(name: str, labels: dict[str, str], command: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": IMAGE, "command": ["sh", "-c", command]}]}}


def _service(name: str, annotations: dict[str, str]) -> Obj:
    return {"metadata": {"name": name, "annotations": annotations},
            "spec": {"selector": {"app": "backend"}, "ports": [{"port": 80}]}}


def _reader(namespace: str) -> Obj:
    """A pod that prints, every 0.2 s, one line ``R name=address ...`` of what each name resolves to."""
    lookups = " ".join(n.format(ns=namespace) for n in NAMES)
    loop = ("while :; do line=R; for n in " + lookups + "; do "
            "line=\"$line $n=$(getent hosts $n | awk '{print $1}' | head -n 1)\"; done; echo \"$line\"; "
            "sleep 0.2; done")
    return _pod("reader", {"app": "reader"}, loop)


def _create(api: Any, namespace: str, kind: str, body: Obj) -> None:
    rest.call(api, "POST", rest.path(kind, namespace), body=body)


def _ready_ip(api: Any, namespace: str, name: str) -> str:
    pod = wait_object(api, "Pod", namespace, name, lambda p: condition(p, "Ready"), timeout=60)
    assert pod is not None
    address: str = pod["status"]["podIP"]
    return address


def _resolves(api: Any, namespace: str, expected: dict[str, str], timeout: float = 30) -> dict[str, str]:
    """Follow the reader's log until a line shows exactly ``expected`` (name -> address, "" for none) for the
    names it lists; return that line's view. Fails with the last line seen."""
    expected = {k.format(ns=namespace): v for k, v in expected.items()}
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    response = rest.request(api, "GET", rest.path("Pod", namespace, "reader", "log"), stream=True, accept="*/*",
                            query={"follow": "true", "tailLines": 1}, timeout=(2, timeout))
    try:
        buffered = b""
        for chunk in response.stream(1024):
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                fields = line.decode().split()
                if fields[:1] != ["R"]:
                    continue
                last = dict(f.partition("=")[::2] for f in fields[1:])
                if all(last.get(name) == address for name, address in expected.items()):
                    return last
            if time.monotonic() > deadline:
                break
    finally:
        rest.drop(response)
    raise AssertionError(f"not resolved as {json.dumps(expected)} within {timeout:.0f} s; last seen: {last}")


def test_global_services_share_backends_across_data_planes(clusters: Clusters, namespace: str) -> None:
    k1, k2, k3 = clusters["k8s-1"], clusters["k8s-2"], clusters["k8s-3"]
    for api in (k1, k2, k3):
        _create(api, namespace, "Service", _service("web", {"service.cilium.io/global": "true"}))
        _create(api, namespace, "Service", _service("plain", {}))
    # k8s-1's copy keeps its backends at home; elsewhere "home" is global and shared
    _create(k1, namespace, "Service", _service("home", {"service.cilium.io/global": "true",
                                                        "service.cilium.io/shared": "false"}))
    for api in (k2, k3):
        _create(api, namespace, "Service", _service("home", {"service.cilium.io/global": "true"}))
    _create(k1, namespace, "Pod", _pod("backend-1", {"app": "backend"}, "exec sleep 3600"))
    first = _ready_ip(k1, namespace, "backend-1")

    # the reader in k8s-2, which has no backend yet: web from k8s-1 under all four names; plain (not global)
    # and home (k8s-1 does not share it) do not resolve
    _create(k2, namespace, "Pod", _reader(namespace))
    _ready_ip(k2, namespace, "reader")
    _resolves(k2, namespace, {n: first for n in NAMES[:4]} | {"plain": "", "home": ""})

    # a backend in k8s-2 too: web keeps the one it resolves to; plain and home resolve to k8s-2's own
    _create(k2, namespace, "Pod", _pod("backend-2", {"app": "backend"}, "exec sleep 3600"))
    second = _ready_ip(k2, namespace, "backend-2")
    assert second != first
    _resolves(k2, namespace, {"web": first, "plain": second, "home": second})

    # the first goes: web moves to the second
    rest.call(k1, "DELETE", rest.path("Pod", namespace, "backend-1"))
    wait_object(k1, "Pod", namespace, "backend-1", lambda p: p is None, timeout=30)
    _resolves(k2, namespace, {n: second for n in NAMES[:4]} | {"plain": second, "home": second})

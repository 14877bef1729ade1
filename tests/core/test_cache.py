"""A data plane's cache, without a cluster: the echo of kbmc's own write or a late event changes nothing (so
no reconcile is queued for it), and cached objects share their strings."""

from __future__ import annotations

from kbmc.core import names
from kbmc.kube.informer import compact
from kbmc.kube.planes import Cache


def service(version: str, address: str | None = None) -> dict:  # type: ignore[type-arg]
    status = {"loadBalancer": {"ingress": [{"ip": address}]}} if address else {}
    return {"kind": "Service", "metadata": {"name": "c-etcd-peer-0", "namespace": "ns", "resourceVersion": version,
                                            "labels": {names.CLUSTER_UID: "uid-1"}}, "spec": {}, "status": status}


def test_only_a_newer_version_is_a_change() -> None:
    cache = Cache("k8s-1")
    assert cache.upsert(service("10")) == "uid-1"  # kbmc's create answered
    assert cache.upsert(service("10")) is None  # its echo from the watch
    assert cache.upsert(service("9")) is None  # a late event
    assert cache.upsert(service("11", "127.1.0.10")) == "uid-1"  # the address assigned
    assert cache.owned_by("uid-1")[("Service", "ns", "c-etcd-peer-0")]["status"]["loadBalancer"]["ingress"] == [
        {"ip": "127.1.0.10"}]


def test_compact_shares_strings_and_keeps_values() -> None:
    a, b = compact(service("10")), compact(service("10"))
    assert a == service("10")
    key_a = next(iter(a["metadata"]["labels"]))
    key_b = next(iter(b["metadata"]["labels"]))
    assert key_a is key_b
    assert a["metadata"]["name"] is b["metadata"]["name"]

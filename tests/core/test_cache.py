"""A data plane's cache, without a cluster: the echo of kbmc's own write or a late event changes nothing (so
no reconcile is queued for it), and cached objects share their strings."""

from __future__ import annotations

import json

from kbmc.core import names
from kbmc.kube.informer import Strings, compact, stale
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
    # decoded separately, as two watch events are: equal strings, but distinct objects
    first, second = json.loads(json.dumps(service("10"))), json.loads(json.dumps(service("10")))
    assert first["metadata"]["name"] is not second["metadata"]["name"]
    a, b = compact(first), compact(second)
    assert a == service("10")
    key_a = next(iter(a["metadata"]["labels"]))
    key_b = next(iter(b["metadata"]["labels"]))
    assert key_a is key_b
    assert a["metadata"]["name"] is b["metadata"]["name"]


def test_long_strings_are_shared_and_dropped_once_no_object_holds_them() -> None:
    """The scripts of every ConfigMap of one addon are held once; a string no cached object holds any more is
    dropped when the table is pruned (never kept for ever, as interned strings are on Python 3.12)."""
    strings = Strings()
    script = "#!/bin/sh\n" + "echo member-join\n" * 500
    first, second = (json.loads(json.dumps({"data": {"join.sh": script}})) for _ in range(2))
    assert first["data"]["join.sh"] is not second["data"]["join.sh"]
    held = [{k: strings.share(v) for k, v in o["data"].items()} for o in (first, second)]
    assert held[0]["join.sh"] is held[1]["join.sh"] and len(strings) == 1
    address = strings.share("".join(["127.1.0.", "10"]))  # built, not a constant the code object holds
    del first, second, held
    strings.prune()
    assert len(strings) == 1 and strings.share("127.1.0.10") is address


def test_stale_compares_revisions_numerically_and_others_for_equality() -> None:
    assert stale(service("10"), service("10")) and stale(service("10"), service("9"))
    assert not stale(service("9"), service("10"))
    assert stale(service("abc"), service("abc")) and not stale(service("abc"), service("abd"))
    assert not stale(service(""), service(""))

"""Clusters the schema accepts but kbmc cannot build: a clear condition and Warning event naming the
field or data plane, phase Failed, and nothing written to any data plane (not even the finalizer).

Matrix: placement unknown / duplicated / empty entry / whitespace / empty | unknown componentDef |
service not in the definition | bad service-placement value.
"""

from __future__ import annotations

from typing import Any

import pytest

from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import PLANES, condition, create_cluster, objects, seed, wait_cluster
from tests.operator_env import Operator

PEER = {"name": "peer", "serviceType": "LoadBalancer", "podService": True}
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown data plane", {"placement": "k8s-1,k8s-9"}, "PlacementValid",
     "names unknown data plane(s) k8s-9 (known: k8s-1, k8s-2, k8s-3)"),
    ("duplicated data plane", {"placement": "k8s-1,k8s-2,k8s-1"}, "PlacementValid", "names k8s-1 more than once"),
    ("empty entry", {"placement": "k8s-1,,k8s-2"}, "PlacementValid", "has an empty entry"),
    ("whitespace", {"placement": "k8s-1, k8s-2"}, "PlacementValid", "entry ' k8s-2' contains whitespace"),
    ("empty placement", {"placement": ""}, "PlacementValid", "multi-cluster-placement is empty"),
    ("unknown componentDef", {"componentDef": "mysql-8.0"}, "SpecValid",
     "spec.componentSpecs[etcd].componentDef: ComponentDefinition mysql-8.0 not found"),
    ("service not in the definition", {"services": [{**PEER, "name": "gossip"}]}, "SpecValid",
     "spec.componentSpecs[etcd].services: gossip not defined by ComponentDefinition etcd-0.9.0"),
    ("volume the definition mounts missing", {"volumeClaimTemplates": []}, "SpecValid",
     "ComponentDefinition etcd-0.9.0 mounts data; add a volumeClaimTemplate named so"),
    ("bad service placement", {"services": [{**PEER, "annotations": {
        "apps.kubeblocks.io/multi-cluster-service-placement": "everywhere"}}]}, "SpecValid",
     "'everywhere' is not one of unique, mirror"),
]


@pytest.mark.parametrize(("case", "changes", "kind", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_cluster_is_reported_and_nothing_is_written(operator: Operator, clusters: Clusters, namespace: str,
                                                            case: str, changes: dict[str, Any], kind: str,
                                                            message: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "bad", **changes))
    cluster = wait_cluster(control, namespace, "bad", lambda c: (condition(c, kind) or {}).get("status") == "False")
    assert cluster is not None
    found = condition(cluster, kind)
    assert found is not None and message in found["message"], found
    assert cluster["status"]["phase"] == "Failed"
    assert "kbmc.io/cleanup" not in (cluster["metadata"].get("finalizers") or [])
    for plane in PLANES:
        assert objects(clusters, plane, namespace, "bad") == {}
    events = rest.call(control, "GET", rest.path("Event", namespace),
                       query={"fieldSelector": "involvedObject.name=bad"})["items"]
    assert any(e["type"] == "Warning" and message in e["message"] for e in events)

"""Clusters the schema accepts but kbmc cannot build: a clear condition and Warning event naming the
field or data plane, phase Failed, and nothing written to any data plane (not even the finalizer).

Matrix: placement unknown / duplicated / empty entry / whitespace / empty | unknown componentDef |
service not in the definition | bad service-placement value | a volume the definition mounts missing |
names a data plane would refuse (too long, a dot, a leading digit) | annotations so large that kbmc's record
does not fit | a volume of size 0 |
a DataPlane refusing the namespace; and one that is accepted: more data planes than replicas.
"""

from __future__ import annotations

from typing import Any

import pytest

from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import PLANES, condition, create_cluster, objects, phase_is, seed, wait_cluster, wait_event
from tests.operator_env import Operator

PEER = {"name": "peer", "serviceType": "LoadBalancer", "podService": True}
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown data plane", {"placement": "k8s-1,k8s-9"}, "PlacementValid",
     "names unknown data plane(s) k8s-9 (known: k8s-1, k8s-2, k8s-3)"),
    ("duplicated data plane", {"placement": "k8s-1,k8s-2,k8s-1"}, "PlacementValid", "names k8s-1 more than once"),
    ("empty entry", {"placement": "k8s-1,,k8s-2"}, "PlacementValid", "has an empty entry"),
    ("whitespace", {"placement": "k8s-1, k8s-2"}, "PlacementValid", "entry ' k8s-2' contains whitespace"),
    ("empty placement", {"placement": ""}, "PlacementValid", "multi-cluster-placement is empty"),
    ("unknown componentDef", {"componentDef": "cassandra-4.0"}, "SpecValid",
     "spec.componentSpecs[etcd].componentDef: no ComponentDefinition is named cassandra-4.0 or matches it"),
    ("service not in the definition", {"services": [{**PEER, "name": "gossip"}]}, "SpecValid",
     "spec.componentSpecs[etcd].services: gossip not defined by ComponentDefinition etcd-noagent-0.9.0"),
    ("volume the definition mounts missing", {"volumeClaimTemplates": []}, "SpecValid",
     "ComponentDefinition etcd-noagent-0.9.0 mounts data; add a volumeClaimTemplate named so"),
    ("bad service placement", {"services": [{**PEER, "annotations": {
        "apps.kubeblocks.io/multi-cluster-service-placement": "everywhere"}}]}, "SpecValid",
     "'everywhere' is not one of unique, mirror"),
    ("name too long for a host name", {"name": "b" * 57}, "SpecValid",
     f"Pod {'b' * 57}-etcd-2 (Cluster {'b' * 57}, component etcd) would not be a valid host name"),
    ("name too long for a Service", {"name": "b" * 53}, "SpecValid",
     f"Service {'b' * 53}-etcd-peer-2 (Cluster {'b' * 53}, component etcd) would not be a valid Service name"),
    ("dot in the name", {"name": "b.c"}, "SpecValid", "Pod b.c-etcd-2 (Cluster b.c, component etcd) would not"),
    ("name starting with a digit", {"name": "1bad"}, "SpecValid",
     "Service 1bad-etcd (Cluster 1bad, component etcd) would not be a valid Service name"),
    ("annotations at the size limit", {"metadata.annotations": {"notes": "x" * 262_050}}, "SpecValid",
     "metadata.annotations: the API server refused kbmc's record kbmc.io/instance-placement on the Cluster"),
    ("volume of size 0", {"volumeClaimTemplates": [{"name": "data", "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "0Gi"}}}}]}, "SpecValid",
     "spec.componentSpecs[etcd].volumeClaimTemplates[data].spec.resources.requests.storage: 0Gi is no size"),
]


@pytest.mark.parametrize(("case", "changes", "kind", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_cluster_is_reported_and_nothing_is_written(operator: Operator, clusters: Clusters, namespace: str,
                                                            case: str, changes: dict[str, Any], kind: str,
                                                            message: str) -> None:
    control = clusters["control"]
    changes = dict(changes)
    name = changes.pop("name", "bad")
    body = seed("etcd-cross-cloud-lb.yaml", namespace, name, **{k: v for k, v in changes.items() if "." not in k})
    body["metadata"]["annotations"].update(changes.get("metadata.annotations", {}))
    create_cluster(control, body)
    cluster = wait_cluster(control, namespace, name, lambda c: (condition(c, kind) or {}).get("status") == "False")
    assert cluster is not None
    found = condition(cluster, kind)
    assert found is not None and message in found["message"], found
    assert cluster["status"]["phase"] == "Failed"
    assert "kbmc.io/cleanup" not in (cluster["metadata"].get("finalizers") or [])
    for plane in PLANES:
        assert objects(clusters, plane, namespace, name) == {}
    wait_event(control, namespace, name, lambda e: e["type"] == "Warning" and message in e["message"])


def test_data_plane_refusing_the_namespace(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    rest.call(control, "PATCH", rest.path("DataPlane", name="k8s-3"), content_type=rest.MERGE_PATCH,
              body={"spec": {"allowedNamespaces": ["somewhere-else"]}})
    try:
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "refused"))
        cluster = wait_cluster(control, namespace, "refused",
                               lambda c: (condition(c, "PlacementValid") or {}).get("status") == "False")
        assert cluster is not None
        assert f"k8s-3 do not admit namespace {namespace}" in (condition(cluster, "PlacementValid") or {})["message"]
        for plane in PLANES:
            assert objects(clusters, plane, namespace, "refused") == {}
    finally:
        rest.call(control, "PATCH", rest.path("DataPlane", name="k8s-3"), content_type=rest.MERGE_PATCH,
                  body={"spec": {"allowedNamespaces": None}})


def test_more_data_planes_than_replicas_is_accepted(operator: Operator, clusters: Clusters, namespace: str) -> None:
    """As in KubeBlocks: ordinal 0 goes to the first data plane; shared objects go to all three."""
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "wide", replicas=1))
    cluster = wait_cluster(control, namespace, "wide", phase_is("Running"))
    assert cluster is not None
    assert objects(clusters, "k8s-1", namespace, "wide")["Pod"] == ["wide-etcd-0"]
    for plane in ("k8s-2", "k8s-3"):
        found = objects(clusters, plane, namespace, "wide")
        assert "Pod" not in found and found["ServiceAccount"] == ["kb-wide"]

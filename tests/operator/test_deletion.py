"""Deleting a Cluster, per terminationPolicy, lists every data plane afterwards.

Matrix: DoNotTerminate refuses (stays, condition, Warning event) until the policy changes | Halt keeps PVCs
and ConfigMaps, removes pods, Services and RBAC | Delete and WipeOut leave nothing anywhere | a ComponentDefinition
in use: its deletion waits for its Clusters.
"""

from __future__ import annotations

import pytest

from kbmc.kube import rest
from tests.kube import Clusters, wait_object
from tests.operator.helpers import (
    PLANES,
    condition,
    create_cluster,
    objects,
    patch_cluster,
    phase_is,
    seed,
    wait_cluster,
    wait_event,
)
from tests.operator_env import Operator, reported_etcd


@pytest.mark.parametrize("policy", ["Delete", "WipeOut"])
def test_delete_leaves_nothing_in_any_data_plane(operator: Operator, clusters: Clusters, namespace: str,
                                                 policy: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "gone", terminationPolicy=policy))
    wait_cluster(control, namespace, "gone", phase_is("Running"))
    rest.call(control, "DELETE", rest.path("Cluster", namespace, "gone"))
    wait_cluster(control, namespace, "gone", lambda c: c is None)
    for plane in PLANES:
        assert objects(clusters, plane, namespace, "gone") == {}


def test_halt_keeps_volumes_and_config(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "halt", terminationPolicy="Halt"))
    wait_cluster(control, namespace, "halt", phase_is("Running"))
    rest.call(control, "DELETE", rest.path("Cluster", namespace, "halt"))
    wait_cluster(control, namespace, "halt", lambda c: c is None)
    for index, plane in enumerate(PLANES):
        assert objects(clusters, plane, namespace, "halt") == {
            "PersistentVolumeClaim": [f"data-halt-etcd-{index}"],
            "ConfigMap": ["halt-etcd-env", "halt-etcd-etcd-scripts"],
        }


def test_do_not_terminate_refuses_until_the_policy_changes(operator: Operator, clusters: Clusters,
                                                           namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "keep", terminationPolicy="DoNotTerminate"))
    wait_cluster(control, namespace, "keep", phase_is("Running"))
    rest.call(control, "DELETE", rest.path("Cluster", namespace, "keep"))
    cluster = wait_cluster(control, namespace, "keep",
                           lambda c: (condition(c, "DeletionAllowed") or {}).get("status") == "False")
    assert cluster is not None
    assert cluster["status"]["phase"] == "Deleting"
    for index, plane in enumerate(PLANES):
        assert objects(clusters, plane, namespace, "keep")["Pod"] == [f"keep-etcd-{index}"]
    wait_event(control, namespace, "keep", lambda e: e["type"] == "Warning" and e["reason"] == "DoNotTerminate")
    patch_cluster(control, namespace, "keep", {"spec": {"terminationPolicy": "Delete"}})
    wait_cluster(control, namespace, "keep", lambda c: c is None)
    for plane in PLANES:
        assert objects(clusters, plane, namespace, "keep") == {}


def test_a_definition_in_use_is_deleted_only_once_no_cluster_uses_it(operator: Operator, clusters: Clusters,
                                                                     namespace: str) -> None:
    """As KubeBlocks': deleting a ComponentDefinition a Cluster uses waits (finalizer kbmc.io/in-use, its status
    naming the Cluster), the Cluster keeps running meanwhile; the definition goes once the Cluster has."""
    control = clusters["control"]
    definition = reported_etcd()
    name = definition["metadata"]["name"] = f"etcd-used-{namespace[-6:]}"
    rest.call(control, "POST", rest.path("ComponentDefinition"), body=definition)
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "user", componentDef=name))
    wait_cluster(control, namespace, "user", phase_is("Running"))
    wait_object(control, "ComponentDefinition", None, name, lambda d: "kbmc.io/in-use" in (
        (d or {}).get("metadata", {}).get("finalizers") or []))
    rest.call(control, "DELETE", rest.path("ComponentDefinition", name=name))
    waiting = wait_object(control, "ComponentDefinition", None, name, lambda d: f"used by {namespace}/user" in (
        (d or {}).get("status") or {}).get("message", ""))
    assert waiting is not None and waiting["metadata"].get("deletionTimestamp")
    rest.call(control, "DELETE", rest.path("Cluster", namespace, "user"))
    wait_cluster(control, namespace, "user", lambda c: c is None)
    wait_object(control, "ComponentDefinition", None, name, lambda d: d is None, timeout=30)

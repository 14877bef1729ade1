"""A Cluster's scheduling fields on its pods, as KubeBlocks 0.9 builds them."""

from __future__ import annotations

from typing import Any

from kbmc.api.cluster import Cluster
from kbmc.core.scheduling import pod_fields

SELECTOR = {"matchLabels": {"app.kubernetes.io/instance": "mycluster", "apps.kubeblocks.io/component-name": "etcd"}}


def _cluster(spec: dict[str, Any], component: dict[str, Any] | None = None) -> Cluster:
    return Cluster.model_validate({"metadata": {"name": "mycluster"}, "spec": {
        "terminationPolicy": "Delete", **spec,
        "componentSpecs": [{"name": "etcd", "componentDef": "etcd", "replicas": 3, **(component or {})}]}})


def test_kubeblocks_affinity_and_tolerations_become_the_pods_scheduling() -> None:
    toleration = {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
    cluster = _cluster({"affinity": {"podAntiAffinity": "Preferred", "topologyKeys": ["kubernetes.io/hostname"],
                                     "nodeLabels": {"disk": "ssd,nvme"}}, "tolerations": [toleration]})
    assert pod_fields(cluster, cluster.spec.component_specs[0]) == {
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd", "nvme"]}]}]}},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                    "labelSelector": SELECTOR}}]}},
        "tolerations": [toleration],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": SELECTOR}]}


def test_a_component_s_own_fields_win_and_a_scheduling_policy_replaces_the_rest() -> None:
    cluster = _cluster({"affinity": {"topologyKeys": ["zone"]}},
                       {"affinity": {"podAntiAffinity": "Required", "topologyKeys": ["kubernetes.io/hostname"]}})
    fields = pod_fields(cluster, cluster.spec.component_specs[0])
    assert fields is not None
    assert fields["affinity"] == {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": SELECTOR}]}}
    assert fields["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"
    policy = _cluster({"affinity": {"topologyKeys": ["zone"]}, "tolerations": [{"key": "a", "operator": "Exists"}]},
                      {"schedulingPolicy": {"nodeSelector": {"disk": "ssd"}}})
    assert pod_fields(policy, policy.spec.component_specs[0]) == {
        "schedulerName": None, "nodeSelector": {"disk": "ssd"}, "nodeName": None, "affinity": None,
        "tolerations": None, "topologySpreadConstraints": None}, "the policy as a whole; affinity ignored"


def test_a_cluster_without_scheduling_fields_keeps_the_definition_s() -> None:
    cluster = _cluster({})
    assert pod_fields(cluster, cluster.spec.component_specs[0]) is None

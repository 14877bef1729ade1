"""Where a component's pods may run, from the Cluster's scheduling fields, as KubeBlocks 0.9 builds them
(BuildSchedulingPolicy) (pure).

- A ``schedulingPolicy`` (the component's, else the Cluster's, whole) sets the pods' schedulerName,
  nodeSelector, nodeName, affinity, tolerations and topologySpreadConstraints; ``affinity`` and
  ``tolerations`` are then ignored.
- Otherwise KubeBlocks' own ``affinity`` (the component's, else the Cluster's) becomes: a node affinity from
  nodeLabels (each label In its comma-separated values), a pod anti-affinity per topologyKey (Required or
  Preferred, weight 100) and a topology spread constraint per topologyKey (maxSkew 1; DoNotSchedule when
  Required), selecting the component's pods (``app.kubernetes.io/instance``, ``apps.kubeblocks.io/
  component-name``); ``tolerations`` (the component's, else the Cluster's) are the pods' tolerations.
- A Cluster that sets none of these leaves the definition's runtime as it is (KubeBlocks would empty it).

The anti-affinity and spread apply within each data plane: a data plane's scheduler sees only its own pods.
"""

from __future__ import annotations

from typing import Any

from kbmc.api.cluster import Cluster, ClusterComponentSpec, PodAntiAffinity
from kbmc.core import names

POLICY_FIELDS = ("schedulerName", "nodeSelector", "nodeName", "affinity", "tolerations", "topologySpreadConstraints")


def pod_fields(cluster: Cluster, spec: ClusterComponentSpec) -> dict[str, Any] | None:
    """The pod spec fields the Cluster sets for component ``spec`` (None: it sets none, the runtime's stay)."""
    policy = spec.scheduling_policy or cluster.spec.scheduling_policy
    if policy is not None:
        given = policy.dump()
        return {key: given.get(key) for key in POLICY_FIELDS}
    affinity = spec.affinity or cluster.spec.affinity
    tolerations = spec.tolerations or cluster.spec.tolerations
    if affinity is None and not tolerations:
        return None
    out: dict[str, Any] = {"affinity": None, "tolerations": tolerations or None, "topologySpreadConstraints": None}
    if affinity is not None:
        selector = {"matchLabels": {names.INSTANCE: cluster.metadata.name or "", names.COMPONENT: spec.name}}
        out["affinity"] = _legacy_affinity(affinity, selector)
        required = affinity.pod_anti_affinity == "Required"
        out["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule" if required else "ScheduleAnyway",
             "labelSelector": selector} for key in affinity.topology_keys] or None
    return out


def _legacy_affinity(affinity: PodAntiAffinity, selector: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if affinity.node_labels:
        out["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": key, "operator": "In", "values": value.split(",")}
                                  for key, value in sorted(affinity.node_labels.items())]}]}}
    terms = [{"topologyKey": key, "labelSelector": selector} for key in affinity.topology_keys]
    if terms and affinity.pod_anti_affinity == "Required":
        out["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": terms}
    elif terms:
        out["podAntiAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": term} for term in terms]}
    return out


def apply(pod_spec: dict[str, Any], fields: dict[str, Any] | None) -> None:
    """Set ``fields`` on ``pod_spec`` (a field given as None is removed, as KubeBlocks overwrites it)."""
    for key, value in (fields or {}).items():
        if value in (None, {}, []):
            pod_spec.pop(key, None)
        else:
            pod_spec[key] = value

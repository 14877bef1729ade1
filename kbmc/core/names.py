"""Object names, labels and annotation keys: KubeBlocks' where kbmc keeps its contract, ``kbmc.io/`` for
kbmc's own."""

from __future__ import annotations

from collections.abc import Mapping

PLACEMENT = "apps.kubeblocks.io/multi-cluster-placement"
SERVICE_PLACEMENT = "apps.kubeblocks.io/multi-cluster-service-placement"
INSTANCES = "kbmc.io/instance-placement"
"""On the Cluster: JSON {component: {ordinal: data plane}}, written before anything is created."""
PENDING_CLEANUP = "kbmc.io/pending-cleanup"
"""On a deleting Cluster: data planes (comma-separated) whose cleanup waits for them to be available."""
DELETION_POLICY = "kbmc.io/deletion-policy"
"""On a deleting Cluster: the terminationPolicy its deletion started under (it holds until the end; only a
deletion refused by DoNotTerminate follows a change of the policy)."""
SPEC_HASH = "kbmc.io/spec-hash"
DEFINITIONS = "kbmc.io/definitions"
"""Cluster annotation: per component, the ComponentDefinition and service version chosen for its componentDef
and serviceVersion (``kbmc.core.versions``), kept while those are unchanged."""
FINALIZER = "kbmc.io/cleanup"
IN_USE = "kbmc.io/in-use"
"""Finalizer of a ComponentDefinition that Clusters use: its deletion waits until none does (as KubeBlocks')."""

MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "apps.kubeblocks.io/component-name"
POD_NAME = "apps.kubeblocks.io/pod-name"
CLUSTER_UID = "kbmc.io/cluster-uid"
ORDINAL = "kbmc.io/ordinal"
DATA_PLANE = "kbmc.io/data-plane"
"""On every object kbmc creates: the DataPlane it was created through (two DataPlanes naming the same
cluster must not see, and delete, each other's objects)."""
MANAGER = "kbmc"


def pod(cluster: str, component: str, ordinal: int) -> str:
    return f"{cluster}-{component}-{ordinal}"


def pvc(template: str, cluster: str, component: str, ordinal: int) -> str:
    return f"{template}-{cluster}-{component}-{ordinal}"


def env_config_map(cluster: str, component: str) -> str:
    return f"{cluster}-{component}-env"


def script_config_map(cluster: str, component: str, script: str) -> str:
    return f"{cluster}-{component}-{script}"


def service(cluster: str, component: str, service_name: str) -> str:
    """``<cluster>-<component>-<serviceName>``; ``<cluster>-<component>`` for a service without serviceName (as
    KubeBlocks names them)."""
    return f"{cluster}-{component}-{service_name}" if service_name else f"{cluster}-{component}"


def pod_service(cluster: str, component: str, service_name: str, ordinal: int) -> str:
    return f"{service(cluster, component, service_name)}-{ordinal}"


def account(cluster: str) -> str:
    """ServiceAccount, Role and RoleBinding of a Cluster's pods in every data plane (KubeBlocks' name)."""
    return f"kb-{cluster}"


def labels(cluster: str, uid: str, component: str | None = None) -> dict[str, str]:
    """Ownership labels of everything kbmc creates in a data plane (no cross-cluster ownerReferences)."""
    out = {MANAGED_BY: MANAGER, INSTANCE: cluster, CLUSTER_UID: uid}
    if component is not None:
        out[COMPONENT] = component
    return out


def made_for(kind: str, namespace: str, name: str, labels: Mapping[str, str], cluster_namespace: str,
             cluster: str) -> bool:
    """Whether an object labelled as a Cluster's is one kbmc makes for it: in the Cluster's namespace, and named
    as kbmc names that kind for that Cluster and the component its labels give. Labels alone are not proof: a
    user can copy them onto objects of their own, which kbmc must never delete."""
    if namespace != cluster_namespace or labels.get(INSTANCE) != cluster:
        return False
    if kind in ("ServiceAccount", "Role", "RoleBinding"):
        return name == account(cluster)
    component = labels.get(COMPONENT)
    if not component:
        return False
    if kind == "PersistentVolumeClaim":  # <template>-<cluster>-<component>-<ordinal>
        head, _, ordinal = name.rpartition("-")
        return ordinal.isdigit() and head.endswith(f"-{cluster}-{component}") and labels.get(ORDINAL) == ordinal
    if kind == "Service" and name == f"{cluster}-{component}":
        return True  # a service without serviceName, as KubeBlocks names it
    return name.startswith(f"{cluster}-{component}-")

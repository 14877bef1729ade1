"""The permissions kbmc needs, as data: in the control plane for the operator, in every data plane for
kbmc's identity there. ``hack/generate.py`` writes them to ``deploy/rbac/``; install applies the same."""

from __future__ import annotations

from typing import Any

from kbmc.kube.planes import MANAGED_KINDS

Manifest = dict[str, Any]
OPERATOR = "kbmc-operator"
DATA_PLANE_ROLE = "kbmc-dataplane"
LABELS = {"app.kubernetes.io/managed-by": "kbmc", "app.kubernetes.io/name": "kbmc"}
_RBAC = "rbac.authorization.k8s.io"
_PLURALS = {"Pod": ("", "pods"), "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
            "Service": ("", "services"), "ConfigMap": ("", "configmaps"), "Secret": ("", "secrets"),
            "ServiceAccount": ("", "serviceaccounts"),
            "Role": (_RBAC, "roles"), "RoleBinding": (_RBAC, "rolebindings")}
WRITE = ["get", "list", "watch", "create", "patch", "delete"]
POD_GRANTS = [
    # what the addons' pods are granted through their Roles: kbmc may only grant what it holds itself
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
]


def data_plane_rules() -> list[dict[str, Any]]:
    """What kbmc's identity needs in a data plane: the kinds it manages, namespaces to create, nodes to
    read (NodePort addresses), its probe, and what it grants to pods. No wildcard."""
    rules: list[dict[str, Any]] = []
    for kind in MANAGED_KINDS:
        group, plural = _PLURALS[kind]
        rules.append({"apiGroups": [group], "resources": [plural], "verbs": WRITE})
    rules.append({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create"]})
    rules.append({"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]})
    rules.append({"nonResourceURLs": ["/version"], "verbs": ["get"]})
    return rules + POD_GRANTS


def data_plane_manifests() -> list[Manifest]:
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": DATA_PLANE_ROLE, "labels": LABELS}, "rules": data_plane_rules()}]


def operator_manifests(namespace: str) -> list[Manifest]:
    """ServiceAccount, ClusterRole (kbmc's and KubeBlocks' kinds, events) and a Role for its namespace
    (the kubeconfig Secret, the addons' script templates, the leader Lease)."""
    cluster_rules = [
        {"apiGroups": ["apps.kubeblocks.io"], "resources": ["clusters"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["apps.kubeblocks.io"], "resources": ["componentversions"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps.kubeblocks.io"], "resources": ["clusters/status", "componentdefinitions/status",
                                                            "componentversions/status"],
         "verbs": ["get", "patch"]},
        {"apiGroups": ["apps.kubeblocks.io"], "resources": ["componentdefinitions"],
         "verbs": ["get", "list", "watch", "patch"]},  # patch: the in-use finalizer
        {"apiGroups": ["kbmc.io"], "resources": ["dataplanes"], "verbs": ["get", "list", "watch", "create"]},
        {"apiGroups": ["kbmc.io"], "resources": ["dataplanes/status"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create"]},  # accounts
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list",
                                                                                                     "watch"]},
    ]
    namespace_rules = [
        {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    ]
    meta = {"name": OPERATOR, "labels": LABELS}
    subject = [{"kind": "ServiceAccount", "name": OPERATOR, "namespace": namespace}]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {**meta, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": cluster_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": OPERATOR},
         "subjects": subject},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {**meta, "namespace": namespace},
         "rules": namespace_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {**meta, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": OPERATOR},
         "subjects": subject},
    ]

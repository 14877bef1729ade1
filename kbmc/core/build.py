"""Build the manifests a Cluster needs in each data plane (pure).

Per component: in every data plane of the placement the env ConfigMap, script ConfigMaps, the
ServiceAccount / Role / RoleBinding ``kb-<cluster>`` and mirrored Services; in an instance's own data plane
its Pod, its PVCs and its ``unique`` pod Services. New Pods (``held`` ordinals) are left out while their vars
are not resolved yet; Pods that exist are never held back (holding must not delete them).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kbmc.api.cluster import Cluster, ClusterComponentSpec
from kbmc.api.common import DNS_LABEL
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.core import names, scheduling, sidecar
from kbmc.core.members import RESTART, ROLE
from kbmc.core.services import ServicePlan
from kbmc.errors import ClusterSpecError
from kbmc.settings import IMAGE

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
"""The container kubectl logs and exec choose without -c (the database's, not kbmc's agent)."""

Manifest = dict[str, Any]
KIND_ORDER = ("ServiceAccount", "Role", "RoleBinding", "Secret", "ConfigMap", "Service", "PersistentVolumeClaim",
              "Pod")


@dataclass(frozen=True)
class ComponentInput:
    """Everything needed to build one component, already resolved."""

    spec: ClusterComponentSpec
    definition: ComponentDefinition
    services: list[ServicePlan]
    ordinals: Mapping[int, str]
    """Ordinal -> data plane, for the ordinals that exist (or are to be created)."""
    planes: list[str]
    """Data planes of the placement that hold the component's shared objects."""
    env: Mapping[str, str] | None
    """The env ConfigMap's data; None while nothing can be published yet (the ConfigMap is then not created,
    so it is written once, complete)."""
    held: frozenset[int]
    """Ordinals whose Pod is not created yet because a Required var is not resolved."""
    scripts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Script template name -> files."""
    credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Var -> (account Secret, key), given to every container as a secretKeyRef."""
    accounts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Account Secret name -> its data (encoded), copied into every data plane of the component."""


def check_volumes(spec: ClusterComponentSpec, definition: ComponentDefinition) -> None:
    """Every volume the definition's containers mount must come from somewhere: a volumeClaimTemplate of the
    Cluster, a script of the definition, or a volume of its runtime."""
    runtime = definition.spec.runtime.dump()
    provided = ({t.name for t in spec.volume_claim_templates} | {s.volume_name for s in definition.spec.scripts}
                | {v["name"] for v in runtime.get("volumes", [])})
    mounted = {m["name"] for c in runtime["containers"] for m in c.get("volumeMounts", [])}
    missing = sorted(mounted - provided)
    if missing:
        raise ClusterSpecError(
            f"spec.componentSpecs[{spec.name}].volumeClaimTemplates: ComponentDefinition {definition.metadata.name} "
            f"mounts {', '.join(missing)}; add a volumeClaimTemplate named so")


DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
"""RFC 1035 label: what a Service's name must be."""
ZERO = re.compile(r"[+]?0*(\.0*)?([eE][+-]?\d+|[a-zA-Z]+)?")


def check_names(cluster: str, spec: ClusterComponentSpec, services: list[ServicePlan]) -> None:
    """The names and sizes a data plane would refuse, found before anything is written: every object is named
    after the Cluster and component, and a Pod's name is its hostname (an RFC 1123 label of at most 63
    characters), a Service's an RFC 1035 label (it starts with a letter); a volume of size 0 is refused."""
    where = f"spec.componentSpecs[{spec.name}]"
    last = max(spec.replicas - 1, 0)
    pod = names.pod(cluster, spec.name, last)
    if len(pod) > 63 or not re.fullmatch(DNS_LABEL, pod):
        raise ClusterSpecError(f"metadata.name: Pod {pod} (Cluster {cluster}, component {spec.name}) would not be a "
                               "valid host name: lowercase letters, digits and '-', at most 63 characters")
    for plan in services:
        for service in plan.object_names(cluster, spec.name, [last]):
            if len(service) > 63 or not DNS_1035.fullmatch(service):
                raise ClusterSpecError(
                    f"metadata.name: Service {service} (Cluster {cluster}, component {spec.name}) would not be a "
                    "valid Service name: it starts with a letter, then lowercase letters, digits and '-', at most "
                    "63 characters")
    for template in spec.volume_claim_templates:
        storage = template.spec.resources.requests.get("storage")
        if storage is not None and ZERO.fullmatch(str(storage)):
            raise ClusterSpecError(f"{where}.volumeClaimTemplates[{template.name}].spec.resources.requests.storage: "
                                   f"{storage} is no size; it must be greater than 0")


def spec_hash(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _meta(name: str, namespace: str, labels: Mapping[str, str], annotations: Mapping[str, str] | None = None
          ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def build_cluster(cluster: Cluster, components: list[ComponentInput],
                  service_defaults: Mapping[str, Mapping[str, str]], agent_image: str = IMAGE
                  ) -> dict[str, list[Manifest]]:
    """Data plane -> manifests, sorted in apply order. ``service_defaults``: a DataPlane's annotations;
    ``agent_image``: kbmc's agent in pods whose definition has lifecycle actions."""
    name, namespace = cluster.metadata.name or "", cluster.metadata.namespace or "default"
    uid = cluster.metadata.uid or ""
    out: dict[str, list[Manifest]] = {}

    def put(plane: str, manifest: Manifest) -> None:
        labelled = {**manifest, "metadata": {**manifest["metadata"],
                                             "labels": {**manifest["metadata"]["labels"], names.DATA_PLANE: plane}}}
        out.setdefault(plane, []).append(labelled)

    all_planes = sorted({p for c in components for p in (*c.planes, *c.ordinals.values())})
    rules = [r.dump() for c in components for r in c.definition.spec.policy_rules]
    if any(sidecar.config(c.definition) is not None for c in components):
        rules.append(sidecar.AGENT_RULE)  # the agent reads its pod and writes its role and answers on it
    account = names.account(name)
    base = names.labels(name, uid)
    for plane in all_planes:
        put(plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(account, namespace, base)})
        put(plane, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": _meta(account, namespace, base), "rules": rules})
        put(plane, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": _meta(account, namespace, base),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
                    "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]})
    for comp in components:
        placing = scheduling.pod_fields(cluster, comp.spec) or {}
        if cluster.spec.runtime_class_name:
            placing["runtimeClassName"] = cluster.spec.runtime_class_name
        for plane, manifest in _component(name, namespace, uid, comp, service_defaults, agent_image, placing):
            put(plane, manifest)
    return {p: sorted(ms, key=lambda m: KIND_ORDER.index(m["kind"])) for p, ms in out.items()}


def _component(cluster: str, namespace: str, uid: str, comp: ComponentInput,
               service_defaults: Mapping[str, Mapping[str, str]], agent_image: str,
               placing: dict[str, Any]) -> list[tuple[str, Manifest]]:
    spec = comp.spec
    labels = names.labels(cluster, uid, spec.name)
    out: list[tuple[str, Manifest]] = []
    env_name = names.env_config_map(cluster, spec.name)
    for plane in comp.planes:
        for secret, data in sorted(comp.accounts.items()):
            out.append((plane, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                "metadata": _meta(secret, namespace, labels), "data": dict(data)}))
        if comp.env is not None:
            out.append((plane, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": _meta(env_name, namespace, labels), "data": dict(comp.env)}))
        for script in comp.definition.spec.scripts:
            out.append((plane, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": _meta(names.script_config_map(cluster, spec.name, script.name),
                                                  namespace, labels),
                                "data": dict(comp.scripts.get(script.name, {}))}))
    for plan in comp.services:
        out.extend(_services(cluster, namespace, labels, comp, plan, service_defaults))
    for ordinal, plane in sorted(comp.ordinals.items()):
        pod = names.pod(cluster, spec.name, ordinal)
        instance_labels = {**labels, names.POD_NAME: pod, names.ORDINAL: str(ordinal)}
        for template in spec.volume_claim_templates:
            out.append((plane, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                "metadata": _meta(names.pvc(template.name, cluster, spec.name, ordinal), namespace,
                                                  {**template.labels, **instance_labels}, template.annotations),
                                "spec": template.spec.dump()}))
        if ordinal not in comp.held:
            out.append((plane, _pod(cluster, namespace, uid, comp, ordinal, instance_labels, agent_image, placing)))
    return out


def _services(cluster: str, namespace: str, labels: Mapping[str, str], comp: ComponentInput, plan: ServicePlan,
              service_defaults: Mapping[str, Mapping[str, str]]) -> list[tuple[str, Manifest]]:
    spec_base = {k: v for k, v in plan.spec.items() if k not in ("type", "selector")}
    selector = {names.INSTANCE: cluster, names.COMPONENT: comp.spec.name}
    out = []
    targets: list[tuple[str, str, dict[str, str]]] = []  # (service name, data plane, selector)
    if plan.pod_service:
        for ordinal, home in sorted(comp.ordinals.items()):
            svc = names.pod_service(cluster, comp.spec.name, plan.suffix, ordinal)
            pod_selector = {**selector, names.POD_NAME: names.pod(cluster, comp.spec.name, ordinal)}
            planes = [home] if plan.placement == "unique" else comp.planes
            targets.extend((svc, plane, pod_selector) for plane in planes)
    else:
        svc = names.service(cluster, comp.spec.name, plan.suffix)
        targets.extend((svc, plane, selector) for plane in comp.planes)
    role = {ROLE: plan.role} if plan.role else {}
    for svc, plane, sel in targets:
        spec = {**copy.deepcopy(spec_base), "type": plan.type, "selector": {**sel, **role}}
        if plan.pod_service and plan.type == "LoadBalancer":
            spec["externalTrafficPolicy"] = "Local"
        annotations = {**service_defaults.get(plane, {}), **plan.annotations}
        out.append((plane, {"apiVersion": "v1", "kind": "Service",
                            "metadata": _meta(svc, namespace, labels, annotations), "spec": spec}))
    return out


def _placeholders(values: Mapping[str, str], cluster: str, component: str, namespace: str, uid: str
                  ) -> dict[str, str]:
    """A definition's labels or annotations with KubeBlocks' placeholders replaced."""
    known = {"$(KB_CLUSTER_NAME)": cluster, "$(KB_COMP_NAME)": component, "$(KB_NAMESPACE)": namespace,
             "$(KB_CLUSTER_UID_POSTFIX_8)": uid[-8:], "$(KB_CLUSTER_COMP_NAME)": f"{cluster}-{component}"}
    pattern = re.compile("|".join(re.escape(p) for p in known))
    return {key: pattern.sub(lambda m: known[m.group(0)], value) for key, value in values.items()}


def _pod(cluster: str, namespace: str, uid: str, comp: ComponentInput, ordinal: int, labels: Mapping[str, str],
         agent_image: str, placing: dict[str, Any]) -> Manifest:
    spec = comp.spec
    pod_spec = comp.definition.spec.runtime.dump()
    scheduling.apply(pod_spec, placing)
    env_from = {"configMapRef": {"name": names.env_config_map(cluster, spec.name)}}
    extra_env = [e.dump() for e in spec.env]
    credentials = [{"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
                   for var, (secret, key) in comp.credentials.items()]
    for index, container in enumerate(pod_spec["containers"]):
        container["envFrom"] = [env_from, *container.get("envFrom", [])]
        if extra_env or credentials:
            container["env"] = [*credentials, *container.get("env", []), *extra_env]
        if index == 0 and (spec.resources.limits or spec.resources.requests):
            container["resources"] = spec.resources.dump()
    volumes = [*pod_spec.get("volumes", []), *spec.volumes]
    for template in spec.volume_claim_templates:
        volumes.append({"name": template.name, "persistentVolumeClaim": {
            "claimName": names.pvc(template.name, cluster, spec.name, ordinal)}})
    for script in comp.definition.spec.scripts:
        source: dict[str, Any] = {"name": names.script_config_map(cluster, spec.name, script.name)}
        if script.default_mode is not None:
            source["defaultMode"] = script.default_mode
        volumes.append({"name": script.volume_name, "configMap": source})
    agent = sidecar.containers(comp.definition, pod_spec["containers"], agent_image)
    extra: dict[str, str] = {}
    if agent is not None:
        added, volume = agent
        extra[DEFAULT_CONTAINER] = pod_spec["containers"][0]["name"]  # kubectl logs / exec without -c
        pod_spec["containers"] = [*pod_spec["containers"], *added]
        volumes.append(volume)
    if volumes:
        pod_spec["volumes"] = volumes
    pod_spec["serviceAccountName"] = spec.service_account_name or names.account(cluster)
    pod_spec["hostname"] = names.pod(cluster, spec.name, ordinal)
    restart = spec.annotations.get(RESTART)  # a restart asked for changes the hash, so every pod is replaced
    hashed = {**pod_spec, RESTART: restart} if restart else pod_spec
    given = comp.definition.spec
    annotations = {**_placeholders(given.annotations, cluster, spec.name, namespace, uid), **spec.annotations,
                   **extra, names.SPEC_HASH: spec_hash(hashed)}
    pod_labels = {**_placeholders(given.labels, cluster, spec.name, namespace, uid), **spec.labels, **labels}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": _meta(names.pod(cluster, spec.name, ordinal), namespace, pod_labels, annotations),
            "spec": pod_spec}

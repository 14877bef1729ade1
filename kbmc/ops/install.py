"""``kbmc install``: everything the operator needs, step by step, checked before success is claimed.

Control plane: CRDs, the namespace, the operator's ServiceAccount and least-privilege RBAC, the addons,
one DataPlane per context, and (unless ``local``) the operator Deployment with the kubeconfig Secret
mounted read-only. Every data plane: reachable, the ClusterRole kbmc's identity needs, and a
SelfSubjectAccessReview of each permission. Idempotent (server-side apply); every failure names what.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kbmc import settings
from kbmc.api.crd import all_crds
from kbmc.core import names
from kbmc.core.kubeconfig import from_secret
from kbmc.errors import ConflictError, ForbiddenError, InstallError, KubeconfigError, NotFoundError
from kbmc.kube import rest
from kbmc.kube.client import Api, new_client, user_agent
from kbmc.kube.crds import apply_crds
from kbmc.ops import rollout
from kbmc.ops.addons import load_addons
from kbmc.ops.rbac import DATA_PLANE_ROLE, OPERATOR, data_plane_manifests, data_plane_rules, operator_manifests

MOUNT_PATH = "/var/run/secrets/kubeblocks.io/multicluster"
DEFAULT_IMAGE = settings.IMAGE
Progress = Callable[[str], None]


@dataclass
class Options:
    kubeconfig_secret: str
    contexts: list[str]
    namespace: str = settings.NAMESPACE
    image: str = DEFAULT_IMAGE
    local: bool = False
    force: bool = False
    """Take over CRDs of kbmc's kinds that something else installed (an existing KubeBlocks)."""
    replicas: int = 2
    """Operator pods: one leads (the Lease ``kbmc-operator``), the others stand by to take over."""
    wait: float = 300.0
    """Seconds install waits for the Deployment to be Ready (0: not at all)."""


@dataclass
class PlaneReport:
    name: str
    version: str = ""
    rbac_ok: bool = False
    notes: list[str] = field(default_factory=list)


def secret_kubeconfig(control: Api, namespace: str, secret: str) -> dict[str, Any]:
    """The data planes' kubeconfig from the Secret; every problem named with the fix."""
    where = f"Secret {namespace}/{secret}"
    try:
        body = rest.call(control, "GET", rest.path("Secret", namespace, secret))
    except NotFoundError as exc:
        raise InstallError(f"{where} not found: create it with `kubectl -n {namespace} create secret generic "
                           f"{secret} --from-file=kubeconfig=PATH`") from exc
    try:
        return from_secret(body.get("data"), where)
    except KubeconfigError as exc:
        raise InstallError(str(exc)) from None


def install(control: Api, options: Options, progress: Progress) -> list[PlaneReport]:
    """Install with ``control`` (a client of the control plane); ``progress`` hears of each step done.
    Everything is checked (Secret, contexts, data planes reachable) before anything is written."""
    ns = options.namespace
    try:
        version = rest.call(control, "GET", "/version").get("gitVersion", "?")
    except Exception as exc:
        raise InstallError(f"control plane unreachable: {exc}") from exc
    progress(f"control plane reachable ({version})")
    if not options.contexts:
        raise InstallError("no data plane given: pass --contexts a,b,c (multiCluster.contexts)")
    kubeconfig = secret_kubeconfig(control, ns, options.kubeconfig_secret)
    known = [c.get("name") for c in kubeconfig["contexts"]]
    missing = [c for c in options.contexts if c not in known]
    if missing:
        raise InstallError(f"context(s) {', '.join(missing)} not in Secret {ns}/{options.kubeconfig_secret} "
                           f"(it has: {', '.join(map(str, known))})")
    progress(f"Secret {ns}/{options.kubeconfig_secret} has contexts {', '.join(options.contexts)}")
    with ThreadPoolExecutor(max_workers=len(options.contexts)) as pool:
        reports = list(pool.map(lambda c: check_plane(kubeconfig, c, apply_rbac=False), options.contexts))
    unreachable = [r for r in reports if not r.version]
    if unreachable:
        raise InstallError("; ".join(f"data plane {r.name} {' '.join(r.notes)}" for r in unreachable))
    progress("data planes reachable: " + ", ".join(f"{r.name} ({r.version})" for r in reports))
    crds = list(all_crds().values())
    apply_crds(control, crds, force=options.force)
    progress("CRDs established: " + ", ".join(c["spec"]["names"]["plural"] for c in crds))
    for manifest in operator_manifests(ns):
        rest.apply(control, manifest)
    progress(f"operator ServiceAccount and RBAC ({OPERATOR})")
    addons = load_addons(ns)
    for manifest in addons:
        rest.apply(control, manifest)
    progress("addons: " + ", ".join(m["metadata"]["name"] for m in addons if m["kind"] == "ComponentDefinition"))
    for body in dataplanes(options):
        with contextlib.suppress(ConflictError):  # an existing DataPlane is the SRE's: never overwritten
            rest.call(control, "POST", rest.path("DataPlane"), body=body)
    progress(f"DataPlanes {', '.join(options.contexts)}")
    with ThreadPoolExecutor(max_workers=len(options.contexts)) as pool:
        reports = list(pool.map(lambda c: check_plane(kubeconfig, c, apply_rbac=True), options.contexts))
    for report in reports:
        if not report.rbac_ok:
            raise InstallError(f"data plane {report.name}: {'; '.join(report.notes)}")
        progress(f"data plane {report.name}: ClusterRole {DATA_PLANE_ROLE}, every permission verified "
                 "(SelfSubjectAccessReview)")
    if options.local:
        progress("--local: run the operator with `kbmc operator run "
                 f"--namespace {ns} --kubeconfig-secret {options.kubeconfig_secret}`")
    else:
        rest.apply(control, deployment(options))
        progress(f"operator Deployment {ns}/{OPERATOR} applied ({options.image}, {options.replicas} replicas)")
        if options.wait:
            rollout.wait_ready(control, ns, OPERATOR, f"app.kubernetes.io/name={OPERATOR}", options.wait, progress)
            progress(f"operator Deployment {ns}/{OPERATOR} Ready; leader: {leader(control, ns) or '(electing)'}")
    return reports


def leader(control: Api, namespace: str) -> str:
    """The holder of the operator's leader Lease, or empty."""
    try:
        lease = rest.call(control, "GET", rest.path("Lease", namespace, settings.LeaderSettings().lease_name))
    except (NotFoundError, ForbiddenError):
        return ""
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def check_plane(kubeconfig: dict[str, Any], context: str, apply_rbac: bool) -> PlaneReport:
    """Reach one data plane with kbmc's identity there, optionally apply its ClusterRole, verify each
    permission with SelfSubjectAccessReview."""
    report = PlaneReport(context)
    try:
        api = new_client("", context, agent=user_agent(f"install dataplane={context}"), kubeconfig_dict=kubeconfig)
        report.version = rest.call(api, "GET", "/version").get("gitVersion", "?")
    except Exception as exc:
        report.notes.append(f"unreachable: {exc}")
        return report
    if apply_rbac:
        for manifest in data_plane_manifests():
            try:
                rest.apply(api, manifest)
            except ForbiddenError:
                report.notes.append(f"ClusterRole {DATA_PLANE_ROLE} not applied (forbidden to this identity)")
    denied = missing_permissions(api)
    report.rbac_ok = not denied
    if denied:
        report.notes.append(f"kbmc's identity (context {context}) may not: {', '.join(denied)}; bind it to "
                            f"ClusterRole {DATA_PLANE_ROLE} or use `kbmc dataplane join`")
    return report


def missing_permissions(api: Api) -> list[str]:
    denied = []
    for rule in data_plane_rules():
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule["verbs"]:
                    scope = None if resource in {"namespaces", "nodes"} else "default"
                    if not rest.allowed(api, verb, group, resource, scope):
                        denied.append(f"{verb} {resource}")
    return denied


def dataplanes(options: Options) -> list[dict[str, Any]]:
    return [{"apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": context},
             "spec": {"context": context}} for context in options.contexts]


def manifests(options: Options) -> dict[str, list[dict[str, Any]]]:
    """Everything install applies, by where it goes (``kbmc install --dry-run``), in the order it applies it."""
    control = [*all_crds().values(), *operator_manifests(options.namespace), *load_addons(options.namespace),
               *dataplanes(options)]
    if not options.local:
        control.append(deployment(options))
    return {"control plane": control, "every data plane": data_plane_manifests()}


def deployment(options: Options) -> dict[str, Any]:
    """The operator's Deployment. Its data planes come from the DataPlane objects and the Secret, not from its
    args (a detached data plane stays detached across restarts). Its replicas elect a leader; a rolling update
    starts the new pod before the old one stops, and the old leader hands its Lease over as it stops."""
    ns = options.namespace
    args = ["operator", "run", "--namespace", ns, "--kubeconfig-secret", options.kubeconfig_secret,
            "--metrics-port", "8080", "--liveness-port", "8081"]
    probe = {"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 10}
    field = [("POD_NAME", "metadata.name"), ("KBMC_BIND_ADDRESS", "status.podIP")]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": OPERATOR, "namespace": ns, "labels": {names.MANAGED_BY: names.MANAGER}},
        "spec": {
            "replicas": options.replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": {"app.kubernetes.io/name": OPERATOR}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": OPERATOR}},
                "spec": {
                    "serviceAccountName": OPERATOR,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    # replicas on different nodes where there are several, so that one node lost is no outage
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100, "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": OPERATOR}}}}]}},
                    "containers": [{
                        "name": "operator", "image": options.image, "args": args,
                        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                                {"name": "KBMC_AGENT_IMAGE", "value": options.image},
                                # metrics and health on the pod's address: what the kubelet and Prometheus reach
                                *({"name": n, "valueFrom": {"fieldRef": {"fieldPath": f}}} for n, f in field)],
                        "livenessProbe": {**probe, "failureThreshold": 3},
                        "readinessProbe": {**probe, "periodSeconds": 5},
                        "ports": [{"name": "metrics", "containerPort": 8080},
                                  {"name": "health", "containerPort": 8081}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"cpu": "2", "memory": "512Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "multicluster", "mountPath": MOUNT_PATH, "readOnly": True},
                                         {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "multicluster", "secret": {"secretName": options.kubeconfig_secret}},
                                {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }

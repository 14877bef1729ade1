"""Resolve a ComponentDefinition's vars into the env ConfigMap, with KubeBlocks' formats.

- ``host`` of a pod service: sorted, comma-separated Service names; of a component service: its name.
- ``loadBalancer``: ``<svcName>:<address>`` sorted and comma-separated; a pod service's address is its
  ingress in its pod's data plane. NodePort services advertise ``<svcName>:<node address>:<nodePort>``
  of that data plane (ports differ per cluster).
- With both, addresses win for LoadBalancer / NodePort services, host names otherwise.
- ``Required`` parts not yet known hold the pods back; the waiting Service names are reported, and a
  value already published is kept meanwhile (a running group's peer list never shrinks).
- Peers in data planes marked unavailable keep their last published entry (kbmc cannot look there), and
  ``<VAR>_UNAVAILABLE`` lists their Service names, so a database can tell them apart without the full list
  being rewritten under it.
- A var whose ``compDef`` names another definition reads the one other component of the Cluster that runs a
  definition it matches (exact name, prefix or regular expression, as KubeBlocks matches): its Services, its
  instances, its accounts' Secrets. None: an optional var is left out, any other is an error naming it; several:
  an error (``multipleClusterObjectOption`` is not supported).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kbmc.api.componentdefinition import ComponentDefinition, ComponentVarSelector, ObjectRef, ServiceVarSelector, Var
from kbmc.core.accounts import secret_name
from kbmc.core.names import pod
from kbmc.core.services import ServicePlan
from kbmc.core.verdict import default_service, own
from kbmc.core.versions import matches
from kbmc.errors import ComponentDefinitionError


@dataclass(frozen=True)
class SeenService:
    """What kbmc observed of one Service copy in one data plane."""

    ingress: tuple[str, ...] = ()
    node_ports: tuple[int, ...] = ()


@dataclass
class Resolution:
    env: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)
    """Services whose address a Required var still lacks."""
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Var -> (account Secret, key): given to the containers as a secretKeyRef, never as a literal."""


@dataclass(frozen=True)
class Context:
    """What resolution knows of the data planes: observations, and what was published before."""

    seen: Mapping[tuple[str, str], SeenService]
    """(data plane, Service name) -> observation."""
    node_addresses: Mapping[str, str]
    unavailable: frozenset[str] = frozenset()
    """Data planes marked unavailable."""
    previous: Mapping[str, str] = field(default_factory=dict)
    """The env ConfigMap's current data."""


@dataclass(frozen=True)
class Component:
    """A component of the Cluster as vars see it."""

    name: str
    definition: ComponentDefinition
    plans: list[ServicePlan]
    ordinals: Mapping[int, str]
    """Ordinal -> data plane of the instances placed."""
    replicas: int | None = None
    """Its instances are ordinals 0 .. replicas-1 wherever they run, placed or waiting (default: those placed)."""


def resolve(definition: ComponentDefinition, plans: list[ServicePlan], cluster: str, component: str,
            ordinals: Mapping[int, str], ctx: Context, namespace: str = "default",
            replicas: int | None = None, others: Sequence[Component] = ()) -> Resolution:
    """``ordinals``: ordinal -> data plane of the instances placed; ``replicas``: the component's (its instances
    are ordinals 0 .. replicas-1 wherever they run, placed or waiting; default: those placed); ``others``: the
    Cluster's other components (``ctx`` holds their Services too)."""
    out = Resolution()
    this = Component(component, definition, plans, ordinals, replicas)
    for var in definition.spec.vars:
        source = var.value_from
        ref: ObjectRef | None = None if source is None else (
            source.credential_var_ref or source.component_var_ref or source.service_var_ref)
        if source is None or ref is None:
            out.env[var.name] = var.value or ""
            continue
        target = this if own(definition, ref) else _other(definition, var, ref, others)
        if target is None:
            continue
        if source.credential_var_ref is not None:
            ref_ = source.credential_var_ref
            if ref_.name not in {a.name for a in target.definition.spec.system_accounts}:
                if ref_.optional:
                    continue
                raise ComponentDefinitionError(
                    f"ComponentDefinition {definition.metadata.name}: var {var.name} refers to account {ref_.name} "
                    f"of component {target.name}, whose ComponentDefinition {target.definition.metadata.name} "
                    "has no such account")
            key = "username" if ref_.username is not None else "password"
            out.credentials[var.name] = (secret_name(cluster, target.name, ref_.name or ""), key)
            continue
        if source.component_var_ref is not None:
            every = sorted(target.ordinals) if target.replicas is None else list(range(target.replicas))
            value = _component_value(source.component_var_ref, cluster, target.name, every, namespace)
            if value is not None:
                out.env[var.name] = value
            continue
        service_ref = source.service_var_ref
        assert service_ref is not None
        service = service_ref.name or default_service(target.definition)
        plan = next((p for p in target.plans if p.name == service), None)
        if plan is None:
            if service_ref.optional:
                continue
            raise ComponentDefinitionError(
                f"ComponentDefinition {definition.metadata.name}: var {var.name} refers to service "
                f"{service or '(default)'} of component {target.name}, which this Cluster does not create")
        value, waiting, absent = _service_value(service_ref, plan, cluster, target.name, target.ordinals, ctx,
                                                ctx.previous.get(var.name, ""))
        out.waiting.extend(w for w in waiting if w not in out.waiting)
        if value is None and var.name in ctx.previous:
            value = ctx.previous[var.name]
        if value is not None:
            out.env[var.name] = value
        if plan.pod_service:
            out.env[f"{var.name}_UNAVAILABLE"] = ",".join(absent)
    return out


def _other(definition: ComponentDefinition, var: Var, ref: ObjectRef, others: Sequence[Component]) -> Component | None:
    """The one other component whose definition ``ref.compDef`` matches (None: an optional var is left out)."""
    found = [o for o in others if matches(o.definition.metadata.name or "", ref.comp_def or "")]
    if len(found) == 1:
        return found[0]
    where = f"ComponentDefinition {definition.metadata.name}: var {var.name} (compDef {ref.comp_def})"
    if found:
        raise ComponentDefinitionError(f"{where} matches components {', '.join(o.name for o in found)} of this "
                                       "Cluster; kbmc reads one (multipleClusterObjectOption is not supported)")
    if ref.optional:
        return None
    raise ComponentDefinitionError(f"{where}: no other component of this Cluster runs a ComponentDefinition it "
                                   "matches")


def _component_value(ref: ComponentVarSelector, cluster: str, component: str, ordinals: list[int],
                     namespace: str) -> str | None:
    """KubeBlocks' componentVarRef values (None: the selector asks for nothing)."""
    pods = [pod(cluster, component, o) for o in ordinals]
    if ref.component_name is not None:
        return f"{cluster}-{component}"
    if ref.short_name is not None:
        return component
    if ref.replicas is not None:
        return str(len(ordinals))
    if ref.instance_names is not None or ref.pod_names is not None:
        return ",".join(pods)
    if ref.pod_fqdns is not None:
        return ",".join(f"{p}.{cluster}-{component}-headless.{namespace}.svc.cluster.local" for p in pods)
    return None


def _service_value(ref: ServiceVarSelector, plan: ServicePlan, cluster: str, component: str,
                   ordinals: Mapping[int, str], ctx: Context, previous: str) -> tuple[str | None, list[str], list[str]]:
    """(value or None while Required parts wait, Services waiting, Services in unavailable data planes)."""
    placed = sorted(ordinals)
    svc_names = plan.object_names(cluster, component, placed)
    planes = [ordinals[o] for o in placed] if plan.pod_service else sorted(set(ordinals.values()))[:1]
    absent = sorted(n for n, p in zip(svc_names, planes, strict=False) if p in ctx.unavailable)
    if ref.port is not None and ref.host is None and ref.load_balancer is None:
        ports = plan.spec["ports"]
        chosen = next((p for p in ports if p.get("name") == ref.port.name), ports[0])
        return str(chosen["port"]), [], absent
    wants_address = ref.load_balancer is not None and plan.type in ("LoadBalancer", "NodePort")
    if not wants_address:
        return ",".join(sorted(svc_names)), [], absent
    if not placed:
        return "", [], absent
    published = dict(entry.split(":", 1) for entry in previous.split(",") if ":" in entry)
    entries, waiting = [], []
    for name, plane in zip(svc_names, planes, strict=True):
        observed = ctx.seen.get((plane, name), SeenService())
        if plan.type == "LoadBalancer" and observed.ingress:
            entries.append(f"{name}:{observed.ingress[0]}")
        elif plan.type == "NodePort" and observed.node_ports and plane in ctx.node_addresses:
            entries.append(f"{name}:{ctx.node_addresses[plane]}:{observed.node_ports[0]}")
        elif plane in ctx.unavailable and name in published:
            entries.append(f"{name}:{published[name]}")
        else:
            waiting.append(name)
    if waiting:
        if ref.load_balancer == "Required":
            return None, waiting, absent
        return "", [], absent
    return ",".join(sorted(entries)), [], absent

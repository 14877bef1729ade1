"""A component's services: the ComponentDefinition's, overridden by the Cluster's of the same name, and
where each copy goes (``unique``: only its pod's data plane; ``mirror`` or absent: every data plane)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kbmc.api.cluster import ClusterComponentSpec
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.core import names
from kbmc.errors import ClusterSpecError


@dataclass(frozen=True)
class ServicePlan:
    name: str
    """The definition's service name (what serviceVarRef names)."""
    suffix: str
    """Part of the Service's object name: serviceName ("" when unset: the Service is ``<cluster>-<component>``,
    as KubeBlocks names it)."""
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"]
    annotations: dict[str, str]
    pod_service: bool
    placement: Literal["unique", "mirror"]
    spec: dict[str, Any]
    role: str | None = None
    """Only pods of this role are selected (the definition's roleSelector)."""

    def object_names(self, cluster: str, component: str, ordinals: list[int]) -> list[str]:
        if self.pod_service:
            return [names.pod_service(cluster, component, self.suffix, o) for o in ordinals]
        return [names.service(cluster, component, self.suffix)]


def plan_services(component: ClusterComponentSpec, definition: ComponentDefinition) -> list[ServicePlan]:
    """Merge the definition's services with the Cluster's overrides; errors name the field."""
    defined = {s.name: s for s in definition.spec.services}
    overrides = {s.name: s for s in component.services}
    where = f"spec.componentSpecs[{component.name}].services"
    unknown = sorted(set(overrides) - set(defined))
    if unknown:
        raise ClusterSpecError(
            f"{where}: {', '.join(unknown)} not defined by ComponentDefinition {definition.metadata.name} "
            f"(it defines: {', '.join(sorted(defined)) or 'none'})")
    plans = []
    for name, service in defined.items():
        override = overrides.get(name)
        if service.disable_auto_provision and override is None:
            continue
        annotations = {**service.annotations, **(override.annotations if override else {})}
        placement = annotations.pop(names.SERVICE_PLACEMENT, "mirror")
        if placement not in ("unique", "mirror"):
            raise ClusterSpecError(f"{where}[{name}].annotations[{names.SERVICE_PLACEMENT}]: {placement!r} is "
                                   "not one of unique, mirror")
        pod_service = bool(override.pod_service if override and override.pod_service is not None
                           else service.pod_service)
        spec = service.spec.dump()
        plans.append(ServicePlan(
            name=name, suffix=service.service_name or "", type=override.service_type if override else "ClusterIP",
            annotations=annotations, pod_service=pod_service, placement=placement,  # type: ignore[arg-type]
            spec=spec, role=service.role_selector))
    return plans


def ingress_addresses(service: Mapping[str, Any]) -> tuple[str, ...]:
    """The addresses a LoadBalancer gave a Service (status.loadBalancer.ingress: ip, else hostname)."""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return tuple(a for i in ingress if (a := i.get("ip") or i.get("hostname")))

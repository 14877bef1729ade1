"""``ComponentDefinition`` (apps.kubeblocks.io/v1alpha1): what a database component is, as data."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from kbmc.api.common import DNS_LABEL, ENV_NAME, FreeForm, IntOrString, Model, ObjectMeta, list_map

VarOption = Literal["Required", "Optional"]
_OPEN = ConfigDict(extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})


class Container(Model):
    """A corev1.Container; fields beyond name and image are kept as written."""

    model_config = _OPEN
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    image: Annotated[str, Field(min_length=1)]


class PodSpec(Model):
    """A corev1.PodSpec; fields beyond the containers are kept as written."""

    model_config = _OPEN
    containers: Annotated[list[Container], Field(min_length=1)]
    init_containers: list[Container] = Field(default_factory=list)


class NamedVar(Model):
    name: str | None = None
    """Port name; empty picks the service's only port."""
    option: VarOption = "Optional"
    """KubeBlocks' Required / Optional; a port is known from the definition, so it always resolves."""


class ServiceVarSelector(Model):
    comp_def: str | None = None
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=25)]
    """Name of a service of this definition."""
    optional: bool | None = None
    """When true, a var naming a service this Cluster does not create is left out; otherwise the Cluster cannot
    be built (whether a missing address holds pods back is ``loadBalancer``'s Required / Optional)."""
    host: VarOption | None = None
    """Service host names (pod services: sorted, comma-separated names)."""
    load_balancer: VarOption | None = None
    """LoadBalancer addresses, ``<svcName>:<address>`` sorted and comma-separated."""
    port: NamedVar | None = None
    """The number of the service's port of that name (its only port when unnamed): the service port, also for
    NodePort services (their node ports are in ``loadBalancer``'s addresses)."""


class VarSource(Model):
    service_var_ref: ServiceVarSelector | None = None


class Var(Model):
    name: Annotated[str, Field(pattern=ENV_NAME, min_length=1)]
    value: str | None = None
    value_from: VarSource | None = None


class ServicePort(Model):
    model_config = _OPEN
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=15)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)]
    target_port: IntOrString | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None


class ServiceSpec(Model):
    """A corev1.ServiceSpec; kbmc sets type, selector and externalTrafficPolicy itself."""

    model_config = _OPEN
    ports: Annotated[list[ServicePort], Field(min_length=1)]


class ComponentService(Model):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=25)]
    service_name: Annotated[str, Field(pattern=DNS_LABEL, max_length=25)] | None = None
    """Suffix of the Service name; defaults to name."""
    spec: ServiceSpec
    pod_service: bool | None = None
    disable_auto_provision: bool | None = None
    """Create only when a Cluster names this service."""


class ComponentVolume(Model):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    need_snapshot: bool | None = None
    high_watermark: Annotated[int, Field(ge=0, le=100)] | None = None


class ReplicaRole(Model):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=32)]
    serviceable: bool | None = None
    writable: bool | None = None
    votable: bool | None = None


class PolicyRule(Model):
    """A rbacv1.PolicyRule granted to the component's pods in every data plane."""

    api_groups: list[str] = Field(default_factory=list)
    resources: list[str] = Field(default_factory=list)
    verbs: Annotated[list[str], Field(min_length=1)]
    resource_names: list[str] = Field(default_factory=list)


class ComponentTemplateSpec(Model):
    """A ConfigMap template (in the operator's namespace) copied per Cluster into every data plane."""

    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    template_ref: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """The ConfigMap holding the files."""
    namespace: str | None = None
    volume_name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """Volume the runtime mounts the files from."""
    default_mode: Annotated[int, Field(ge=0, le=0o777)] | None = None


class ComponentDefinitionSpec(Model):
    provider: Annotated[str, Field(max_length=32)] | None = None
    description: Annotated[str, Field(max_length=256)] | None = None
    service_kind: Annotated[str, Field(max_length=32)] | None = None
    service_version: Annotated[str, Field(max_length=32)] | None = None
    runtime: PodSpec
    vars: Annotated[list[Var], Field(json_schema_extra=list_map("name"))] = Field(default_factory=list)
    volumes: Annotated[list[ComponentVolume], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    services: Annotated[list[ComponentService], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    scripts: Annotated[list[ComponentTemplateSpec], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    roles: list[ReplicaRole] = Field(default_factory=list)
    update_strategy: Literal["Serial", "BestEffortParallel", "Parallel"] | None = None
    policy_rules: list[PolicyRule] = Field(default_factory=list)
    lifecycle_actions: FreeForm | None = None
    """Accepted for compatibility; kbmc does not run lifecycle actions."""


class ComponentDefinitionStatus(Model):
    observed_generation: int | None = None
    phase: Literal["Available", "Unavailable"] | None = None
    message: str | None = None


class ComponentDefinition(Model):
    api_version: Literal["apps.kubeblocks.io/v1alpha1"] = "apps.kubeblocks.io/v1alpha1"
    kind: Literal["ComponentDefinition"] = "ComponentDefinition"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComponentDefinitionSpec
    status: ComponentDefinitionStatus = Field(default_factory=ComponentDefinitionStatus)

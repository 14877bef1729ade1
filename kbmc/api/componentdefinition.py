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
    """Container name, unique in the pod."""
    image: Annotated[str, Field(min_length=1)]
    """Container image, e.g. quay.io/coreos/etcd:v3.5.15."""


class PodSpec(Model):
    """A corev1.PodSpec; fields beyond the containers are kept as written."""

    model_config = _OPEN
    containers: Annotated[list[Container], Field(min_length=1)]
    """At least one. Each gets envFrom the component's env ConfigMap ``<cluster>-<component>-env`` (the resolved
    vars) and the Cluster's env; the first also the Cluster's resources."""
    init_containers: list[Container] = Field(default_factory=list)
    """Run before the containers, as written (kbmc adds no env or resources to them)."""


class NamedVar(Model):
    name: str | None = None
    """Port name; empty picks the service's only port."""
    option: VarOption = "Optional"
    """KubeBlocks' Required / Optional; a port is known from the definition, so it always resolves."""


class ServiceVarSelector(Model):
    comp_def: str | None = None
    """KubeBlocks: the ComponentDefinition whose component owns the service (empty: this one). kbmc resolves
    every ref against this definition's own services and notes a different value in status.message."""
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
    """A value from one of this definition's services (host, loadBalancer or port). kbmc supports no other
    source."""


class Var(Model):
    name: Annotated[str, Field(pattern=ENV_NAME, min_length=1)]
    """Environment variable name, a key of the env ConfigMap."""
    value: str | None = None
    """Literal value, used when valueFrom is unset (unset too: empty)."""
    value_from: VarSource | None = None
    """Where the value comes from; its serviceVarRef, when set, wins over value."""


class ServicePort(Model):
    model_config = _OPEN
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=15)] | None = None
    """Port name, unique in the service; what serviceVarRef.port.name selects."""
    port: Annotated[int, Field(ge=1, le=65535)]
    """Port the Service listens on."""
    target_port: IntOrString | None = None
    """Container port, by number or name, the traffic goes to; unset: the same as port."""
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None
    """TCP (the Kubernetes default when unset), UDP or SCTP."""


class ServiceSpec(Model):
    """A corev1.ServiceSpec; kbmc sets type, selector and externalTrafficPolicy itself."""

    model_config = _OPEN
    ports: Annotated[list[ServicePort], Field(min_length=1)]
    """The Service's ports (at least one)."""


class ComponentService(Model):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=25)]
    """Service name, unique in the definition; what a Cluster's services[].name and serviceVarRef.name name."""
    service_name: Annotated[str, Field(pattern=DNS_LABEL, max_length=25)] | None = None
    """Suffix of the Service name; defaults to name."""
    spec: ServiceSpec
    """A corev1.ServiceSpec, copied into every copy of the Service; kbmc sets type (the Cluster's serviceType,
    ClusterIP by default), selector and, for LoadBalancer pod services, externalTrafficPolicy Local."""
    pod_service: bool | None = None
    """One Service per pod, ``<cluster>-<component>-<serviceName>-<ordinal>``, instead of one per component; a
    Cluster's services[].podService overrides it."""
    disable_auto_provision: bool | None = None
    """Create only when a Cluster names this service."""
    role_selector: Annotated[str, Field(pattern=DNS_LABEL, max_length=32)] | None = None
    """Select only the pods of this role (one of spec.roles, e.g. leader): in each data plane where the Service
    is, it reaches the pods there that have that role."""


class ComponentVolume(Model):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """Name of a volume the runtime mounts (a Cluster's volumeClaimTemplate of that name provides it)."""
    need_snapshot: bool | None = None
    """KubeBlocks: take a volume snapshot of it when backing up the component. kbmc does not act on it yet."""
    high_watermark: Annotated[int, Field(ge=0, le=100)] | None = None
    """KubeBlocks: usage in percent (0-100) above which the volume is made read-only. kbmc does not act on it
    yet."""


class ReplicaRole(Model):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=32)]
    """Role name, e.g. leader or follower: the pod label kubeblocks.io/role."""
    serviceable: bool | None = None
    """Pods in this role receive Service traffic (access mode Readonly, or ReadWrite when writable)."""
    writable: bool | None = None
    """Pods in this role accept writes (access mode ReadWrite); replaced last in a rolling change."""
    votable: bool | None = None
    """Pods in this role count in the quorum a rolling change keeps."""


class PolicyRule(Model):
    """A rbacv1.PolicyRule granted to the component's pods in every data plane."""

    api_groups: list[str] = Field(default_factory=list)
    """API groups of the resources; "" is the core group."""
    resources: list[str] = Field(default_factory=list)
    """Resource types, e.g. pods or pods/log."""
    verbs: Annotated[list[str], Field(min_length=1)]
    """Allowed verbs (at least one), e.g. get, list, watch, patch."""
    resource_names: list[str] = Field(default_factory=list)
    """Object names the rule is limited to; empty: all."""


class ComponentTemplateSpec(Model):
    """A ConfigMap template (in the operator's namespace) copied per Cluster into every data plane."""

    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """Template name, unique in the definition; the copy is ConfigMap ``<cluster>-<component>-<name>``."""
    template_ref: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """The ConfigMap holding the files."""
    namespace: str | None = None
    """Namespace of templateRef; kbmc reads templates from its own namespace only, and another value makes the
    definition Unavailable."""
    volume_name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """Volume the runtime mounts the files from."""
    default_mode: Annotated[int, Field(ge=0, le=0o777)] | None = None
    """Mode of the mounted files, 0 to 0777 (in YAML as decimal, e.g. 493 for 0755); unset: Kubernetes' 0644."""


class ExecAction(Model):
    """A command run inside the pod, as a corev1.ExecAction."""

    command: Annotated[list[str], Field(min_length=1)]
    """The command and its arguments, e.g. ["/bin/sh", "-c", "/scripts/roleprobe.sh"]; run with the container's
    environment (the component's vars included) in a container of the action's image."""
    args: list[str] = Field(default_factory=list)
    """Arguments appended to command."""


class Action(Model):
    """A lifecycle action (KubeBlocks 0.9 Action), run by kbmc's agent inside the pod it concerns."""

    image: str | None = None
    """Image whose tools the action needs; unset: the image of ``container``, else of the first container.
    kbmc runs the action in a container of the pod that has that image's tools (see docs/architecture.md)."""
    exec_: Annotated[ExecAction, Field(alias="exec")]
    """The command (kbmc runs exec actions only)."""
    container: str | None = None
    """Container whose image, volumes and environment the action runs with; unset: the first container."""
    timeout_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    """Seconds before the action counts as failed (default 30)."""
    target_pod_selector: Literal["Any", "All", "Role", "Ordinal"] | None = None
    """KubeBlocks: which pods run it. kbmc runs each action on the pod it concerns (the leader for a switchover,
    a running member for memberJoin, the leaving member for memberLeave)."""
    matching_key: str | None = None
    """KubeBlocks: the role (or ordinal) targetPodSelector names."""
    retry_policy: FreeForm | None = None
    """KubeBlocks: retries. kbmc retries a failed action with backoff while its change is wanted."""
    pre_condition: str | None = None
    """KubeBlocks: when the action may run. kbmc runs actions when the change needs them."""


class RoleProbe(Model):
    """How the role of each pod is found (KubeBlocks 0.9 RoleProbe)."""

    builtin_handler: str | None = None
    """KubeBlocks' built-in probes by engine; kbmc runs customHandler only (``custom``)."""
    custom_handler: Action | None = None
    """The probe: its output (stdout, trimmed) is the pod's role, one of spec.roles."""
    initial_delay_seconds: Annotated[int, Field(ge=0)] | None = None
    """Seconds after the pod starts before the first probe."""
    period_seconds: Annotated[int, Field(ge=1)] | None = None
    """Seconds between probes (default 5)."""
    timeout_seconds: Annotated[int, Field(ge=1)] | None = None
    """Seconds before a probe counts as failed (default 3)."""


class ActionHandler(Model):
    """A lifecycle action given as a handler (KubeBlocks 0.9 LifecycleActionHandler)."""

    builtin_handler: str | None = None
    """KubeBlocks' built-in handlers by engine; kbmc runs customHandler only."""
    custom_handler: Action | None = None
    """The action."""


class Switchover(Model):
    """How the leader / primary role is moved (KubeBlocks 0.9 ComponentSwitchover)."""

    with_candidate: Action | None = None
    """Move it to a chosen instance (env KB_SWITCHOVER_CANDIDATE_NAME); what `kbmc cluster promote` runs."""
    without_candidate: Action | None = None
    """Move it away from the current holder to any other instance (before the holder is replaced)."""
    script_spec_selectors: list[FreeForm] = Field(default_factory=list)
    """KubeBlocks: scripts the action needs; kbmc mounts every script of the definition."""


class LifecycleActions(Model):
    """Actions kbmc runs inside the pods (roleProbe, switchover, memberJoin, memberLeave); the others are
    accepted and not run (the definition's status says so)."""

    model_config = _OPEN
    role_probe: RoleProbe | None = None
    """Run every periodSeconds in each pod; the role it prints labels the pod kubeblocks.io/role."""
    switchover: Switchover | None = None
    """Run on the leader before it is replaced, and by `kbmc cluster promote`."""
    member_join: ActionHandler | None = None
    """Run on a running member before a new member's pod starts (scale-out); env KB_JOIN_MEMBER_POD_NAME."""
    member_leave: ActionHandler | None = None
    """Run on a leaving member before its pod is deleted (scale-in); env KB_LEAVE_MEMBER_POD_NAME."""


class ComponentDefinitionSpec(Model):
    provider: Annotated[str, Field(max_length=32)] | None = None
    """Who provides the definition (a person, company or project). Informational: kbmc does not act on it yet."""
    description: Annotated[str, Field(max_length=256)] | None = None
    """What the definition is, in words. Informational: kbmc does not act on it yet."""
    service_kind: Annotated[str, Field(max_length=32)] | None = None
    """Kind of service it provides, e.g. etcd or MySQL; shown in the SERVICE column. kbmc does not act on it
    yet."""
    service_version: Annotated[str, Field(max_length=32)] | None = None
    """Version of the service the runtime's images run, e.g. 3.5.15; a Cluster component's serviceVersion, when
    set, must equal it."""
    runtime: PodSpec
    """Pod spec of every instance; kbmc adds env, the volumes of the volumeClaimTemplates and scripts,
    serviceAccountName and hostname (the pod name)."""
    vars: Annotated[list[Var], Field(json_schema_extra=list_map("name"))] = Field(default_factory=list)
    """Variables, unique by name, resolved per component into the env ConfigMap ``<cluster>-<component>-env``
    that every container reads."""
    volumes: Annotated[list[ComponentVolume], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """Attributes of the volumes the runtime mounts, unique by name. kbmc does not act on them yet (a Cluster's
    volumeClaimTemplates provide the volumes)."""
    services: Annotated[list[ComponentService], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """Services of each component, unique by name, created in the data planes of the placement (a Cluster may
    override them by name)."""
    scripts: Annotated[list[ComponentTemplateSpec], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """Script ConfigMaps, unique by name, copied per component into every data plane and mounted in the pods."""
    roles: Annotated[list[ReplicaRole], Field(json_schema_extra=list_map("name"))] = Field(default_factory=list)
    """The roles pods can take, e.g. leader and follower, unique by name; the roleProbe's output labels each pod
    (kubeblocks.io/role) and orders updates (writable roles last)."""
    update_strategy: Literal["Serial", "BestEffortParallel", "Parallel"] | None = None
    """The order pods are replaced in when their spec changes: Serial (one at a time, each Ready and with a role
    before the next), BestEffortParallel (as many at once as keep a majority of the voting members Ready; the
    default) or Parallel (all at once). Writable roles (the leader) last, after a switchover away."""
    policy_rules: list[PolicyRule] = Field(default_factory=list)
    """Rules kbmc grants in every data plane through the Role ``kb-<cluster>`` (one per Cluster, with the rules
    of all its components), bound to the ServiceAccount ``kb-<cluster>``."""
    lifecycle_actions: LifecycleActions | None = None
    """Actions kbmc's agent runs inside the pods: roleProbe, switchover, memberJoin, memberLeave."""


class ComponentDefinitionStatus(Model):
    observed_generation: int | None = None
    """The .metadata.generation kbmc last checked."""
    phase: Literal["Available", "Unavailable"] | None = None
    """Available: Clusters can use it. Unavailable: it is invalid (message says why) and Clusters naming it are
    not built."""
    message: str | None = None
    """Why it is Unavailable, or the fields kbmc does not act on yet."""


class ComponentDefinition(Model):
    """What a database component is (pods, services, vars, scripts, RBAC), as data; Clusters name it in
    componentSpecs[].componentDef."""

    api_version: Literal["apps.kubeblocks.io/v1alpha1"] = "apps.kubeblocks.io/v1alpha1"
    """Versioned schema of this object: apps.kubeblocks.io/v1alpha1."""
    kind: Literal["ComponentDefinition"] = "ComponentDefinition"
    """ComponentDefinition."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata; the name is what a Cluster's componentDef names, e.g. etcd-0.9.0."""
    spec: ComponentDefinitionSpec
    """What the component is: its pods, services, vars, scripts and RBAC."""
    status: ComponentDefinitionStatus = Field(default_factory=ComponentDefinitionStatus)
    """Whether kbmc can use it, written by kbmc."""

"""``ComponentDefinition`` (apps.kubeblocks.io/v1alpha1): what a database component is, as data."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from kbmc.api.common import (
    DNS_LABEL,
    DNS_SUBDOMAIN_PART,
    ENV_NAME,
    FreeForm,
    IntOrString,
    Model,
    ObjectMeta,
    StringMap,
    list_map,
)

VarOption = Literal["Required", "Optional"]
_OPEN = ConfigDict(extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})


class Container(Model):
    """A corev1.Container; fields beyond name and image are kept as written."""

    model_config = _OPEN
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """Container name, unique in the pod; what a ComponentVersion release's images are keyed by."""
    image: Annotated[str, Field(min_length=1)] | None = None
    """Container image, e.g. quay.io/coreos/etcd:v3.5.15; unset: the image of the ComponentVersion release the
    component's serviceVersion picks."""


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
    option: VarOption | None = None
    """Required (the default) or Optional: whether a missing value holds the pods back or leaves the var out."""


class FlattenFormat(Model):
    delimiter: str = ","
    """Between the components' entries."""
    key_value_delimiter: str = ":"
    """Between a component's name and its value."""


class CombinedOption(Model):
    new_var_suffix: str | None = None
    """Put the combined value in ``<name>_<suffix>`` (the var itself is then empty)."""
    value_format: Literal["Flatten"] | None = None
    """Flatten (the only format): ``comp1:value1,comp2:value2``."""
    flatten_format: FlattenFormat | None = None
    """The delimiters of Flatten."""


class MultipleClusterObjectOption(Model):
    """KubeBlocks: how a var that matches several components' objects is given."""

    require_all_component_objects: bool | None = None
    """Every component of the ComponentDefinition must have the object."""
    strategy: Literal["individual", "combined"]
    """individual: one var per component (``<name>_<COMPONENT>``); combined: one var of all."""
    combined_option: CombinedOption | None = None
    """The format of combined."""


class ObjectRef(Model):
    """KubeBlocks' ClusterObjectReference: which component's object a var reads."""

    comp_def: str | None = None
    """The ComponentDefinition (exact name, prefix or regular expression) of the component that owns the
    object; empty: this component."""
    name: str | None = None
    """The object's name, where the kind of var needs one."""
    optional: bool | None = None
    """When true, a var whose object does not exist is left out; otherwise the Cluster cannot be built."""
    multiple_cluster_object_option: MultipleClusterObjectOption | None = None
    """How a compDef matching several components is given (kbmc supports one component: the var's own)."""


class ServiceVarSelector(ObjectRef):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=25)] | None = None
    """Name of a service of the definition; unset: its default service (the one with no serviceName, else its
    only one)."""
    host: VarOption | None = None
    """Service host names (pod services: sorted, comma-separated names)."""
    load_balancer: VarOption | None = None
    """LoadBalancer addresses, ``<svcName>:<address>`` sorted and comma-separated."""
    port: NamedVar | None = None
    """The number of the service's port of that name (its only port when unnamed): the service port, also for
    NodePort services (their node ports are in ``loadBalancer``'s addresses)."""


class CredentialVarSelector(ObjectRef):
    name: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """A system account of the definition (spec.systemAccounts[].name)."""
    username: VarOption | None = None
    """The account's user name."""
    password: VarOption | None = None
    """The account's password (given to the containers from the account's Secret, never as a literal)."""


class ComponentVarSelector(ObjectRef):
    component_name: VarOption | None = None
    """The component's full name, ``<cluster>-<component>``."""
    short_name: VarOption | None = None
    """The component's name in the Cluster."""
    replicas: VarOption | None = None
    """Its number of instances."""
    instance_names: VarOption | None = None
    """Its pods' names, comma-separated, in every data plane (``<cluster>-<component>-<ordinal>``)."""
    pod_names: VarOption | None = None
    """The same as instanceNames (KubeBlocks 1.0's name)."""
    pod_fqdns: Annotated[VarOption | None, Field(alias="podFQDNs")] = None
    """Its pods' host names, ``<pod>.<cluster>-<component>-headless.<namespace>.svc.cluster.local``,
    comma-separated."""


class ContainerVars(Model):
    name: str
    """A container of the runtime."""
    port: NamedVar
    """Its port, by name."""


class HostNetworkVarSelector(ObjectRef):
    container: ContainerVars | None = None
    """The host port allocated to a container's port when the component runs in the host network."""


class ServiceRefVarSelector(ObjectRef):
    """name: a serviceRefDeclaration of the definition."""

    endpoint: VarOption | None = None
    """The referenced service's endpoint."""
    host: VarOption | None = None
    """Its host."""
    port: VarOption | None = None
    """Its port."""
    username: VarOption | None = None
    """Its user name."""
    password: VarOption | None = None
    """Its password."""


class TLSVarSelector(ObjectRef):
    enabled: VarOption | None = None
    """"true" when the component runs with TLS."""


class KeyRef(Model):
    """A corev1.ConfigMapKeySelector / SecretKeySelector."""

    name: str | None = None
    """The object, in the Cluster's namespace."""
    key: str
    """The key."""
    optional: bool | None = None
    """When true, a missing object or key leaves the var out."""


class VarSource(Model):
    """Where a var's value comes from: exactly one of these."""

    config_map_key_ref: KeyRef | None = None
    """A key of a ConfigMap in the Cluster's namespace."""
    secret_key_ref: KeyRef | None = None
    """A key of a Secret in the Cluster's namespace (given as a secretKeyRef, never as a literal)."""
    host_network_var_ref: HostNetworkVarSelector | None = None
    """A host port of a component in the host network."""
    service_var_ref: ServiceVarSelector | None = None
    """A value of one of the definition's services (host, loadBalancer or port)."""
    credential_var_ref: CredentialVarSelector | None = None
    """A system account's user name or password."""
    service_ref_var_ref: ServiceRefVarSelector | None = None
    """A value of a service the Cluster references (serviceRefs)."""
    component_var_ref: ComponentVarSelector | None = None
    """A value of the component (name, replicas, pod names, pod FQDNs)."""
    tls_var_ref: TLSVarSelector | None = None
    """Whether TLS is enabled."""


class Var(Model):
    name: Annotated[str, Field(pattern=ENV_NAME, min_length=1)]
    """Environment variable name, a key of the env ConfigMap."""
    value: str | None = None
    """Literal value, used when valueFrom is unset (unset too: empty)."""
    value_from: VarSource | None = None
    """Where the value comes from; when set, it wins over value."""
    expression: str | None = None
    """KubeBlocks: a Go template computing the value from the other vars."""


class ServicePort(Model):
    model_config = _OPEN
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)] | None = None
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
    """Suffix of the Service name, ``<cluster>-<component>-<serviceName>``; unset: the Service is
    ``<cluster>-<component>`` (pod services ``<cluster>-<component>-<ordinal>``), as KubeBlocks names them."""
    spec: ServiceSpec
    """A corev1.ServiceSpec, copied into every copy of the Service; kbmc sets type (the Cluster's serviceType,
    ClusterIP by default), selector and, for LoadBalancer pod services, externalTrafficPolicy Local."""
    pod_service: bool | None = None
    """One Service per pod, ``<cluster>-<component>-<serviceName>-<ordinal>``, instead of one per component; a
    Cluster's services[].podService overrides it."""
    disable_auto_provision: bool | None = None
    """Create only when a Cluster names this service."""
    annotations: StringMap = Field(default_factory=dict)
    """Copied onto the Service."""
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
    non_resource_urls: Annotated[list[str], Field(alias="nonResourceURLs")] = Field(default_factory=list)
    """Non-resource URLs (a ClusterRole's only: kbmc grants namespaced Roles, so a definition with them is
    Unavailable)."""


class ComponentTemplateSpec(Model):
    """A ConfigMap template (in the operator's namespace) copied per Cluster into every data plane."""

    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN_PART, max_length=63)]
    """Template name, unique in the definition; the copy is ConfigMap ``<cluster>-<component>-<name>``."""
    template_ref: Annotated[str, Field(pattern=DNS_SUBDOMAIN_PART, max_length=63)]
    """The ConfigMap holding the files."""
    namespace: str | None = None
    """Namespace of templateRef; kbmc reads templates from its own namespace only, and another value makes the
    definition Unavailable."""
    volume_name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """Volume the runtime mounts the files from."""
    default_mode: Annotated[int, Field(ge=0, le=0o777)] | None = None
    """Mode of the mounted files, 0 to 0777 (in YAML as decimal, e.g. 493 for 0755); unset: Kubernetes' 0644."""


class ComponentConfigSpec(ComponentTemplateSpec):
    """KubeBlocks: a configuration file template rendered per component, with its constraints."""

    keys: list[str] = Field(default_factory=list)
    """The template's keys to render; empty: all."""
    legacy_rendered_config_spec: FreeForm | None = None
    """KubeBlocks: a template merged in from an older definition."""
    constraint_ref: str | None = None
    """A ConfigConstraint describing the parameters (what may be reconfigured, how)."""
    as_env_from: list[str] = Field(default_factory=list)
    """Containers that get the rendered keys as env (deprecated for injectEnvTo)."""
    inject_env_to: list[str] = Field(default_factory=list)
    """Containers that get the rendered keys as env."""
    re_render_resource_types: list[Literal["vscale", "hscale", "tls", "shardingHScale"]] = Field(
        default_factory=list)
    """Changes after which the template is rendered again."""
    as_secret: bool | None = None
    """Render into a Secret instead of a ConfigMap."""


class ExecAction(Model):
    """A command run inside the pod, as a corev1.ExecAction."""

    command: list[str] = Field(default_factory=list)
    """The command and its arguments, e.g. ["/bin/sh", "-c", "/scripts/roleprobe.sh"]; run with the container's
    environment (the component's vars included) in a container of the action's image."""
    args: list[str] = Field(default_factory=list)
    """Arguments appended to command."""


class Action(Model):
    """A lifecycle action (KubeBlocks 0.9 Action), run by kbmc's agent inside the pod it concerns."""

    image: str | None = None
    """Image whose tools the action needs; unset: the image of ``container``, else of the first container.
    kbmc runs the action in a container of the pod that has that image's tools (see docs/architecture.md)."""
    exec_: Annotated[ExecAction | None, Field(alias="exec")] = None
    """The command (kbmc runs exec actions only: a definition with http actions is Unavailable)."""
    http: FreeForm | None = None
    """KubeBlocks: an HTTP request (path, port, host, scheme, method, httpHeaders) instead of a command."""
    env: list[FreeForm] = Field(default_factory=list)
    """Extra environment of the action (corev1.EnvVar)."""
    container: str | None = None
    """Container whose image, volumes and environment the action runs with; unset: the first container."""
    timeout_seconds: Annotated[int, Field(ge=0)] | None = None
    """Seconds before the action counts as failed (unset or 0: 30)."""
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
    period_seconds: Annotated[int, Field(ge=0)] | None = None
    """Seconds between probes (unset or 0: 5)."""
    timeout_seconds: Annotated[int, Field(ge=0)] | None = None
    """Seconds before a probe counts as failed (unset or 0: 3)."""


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
    """Actions kbmc runs inside the pods (roleProbe, switchover, memberJoin, memberLeave); a definition with any
    other is Unavailable (its status names them)."""

    role_probe: RoleProbe | None = None
    """Run every periodSeconds in each pod; the role it prints labels the pod kubeblocks.io/role."""
    switchover: Switchover | None = None
    """Run on the leader before it is replaced, and by `kbmc cluster promote`."""
    member_join: ActionHandler | None = None
    """Run on a running member before a new member's pod starts (scale-out); env KB_JOIN_MEMBER_POD_NAME."""
    member_leave: ActionHandler | None = None
    """Run on a leaving member before its pod is deleted (scale-in); env KB_LEAVE_MEMBER_POD_NAME."""
    post_provision: ActionHandler | None = None
    """KubeBlocks: run once the component is created. Not run by kbmc yet."""
    pre_terminate: ActionHandler | None = None
    """KubeBlocks: run before the component is deleted. Not run by kbmc yet."""
    readonly: ActionHandler | None = None
    """KubeBlocks: make an instance read-only (volume high watermark). Not run by kbmc yet."""
    readwrite: ActionHandler | None = None
    """KubeBlocks: make an instance writable again. Not run by kbmc yet."""
    data_dump: ActionHandler | None = None
    """KubeBlocks: dump a member's data for a new member. Not run by kbmc yet."""
    data_load: ActionHandler | None = None
    """KubeBlocks: load dumped data into a new member. Not run by kbmc yet."""
    reconfigure: ActionHandler | None = None
    """KubeBlocks: apply changed configuration. Not run by kbmc yet."""
    account_provision: ActionHandler | None = None
    """KubeBlocks: create the system accounts in the database. Not run by kbmc yet."""


class Exporter(Model):
    """Where the component's metrics are scraped from."""

    container_name: str | None = None
    """The container serving them."""
    scrape_path: Annotated[str, Field(max_length=128)] | None = None
    """The HTTP path, e.g. /metrics."""
    scrape_port: str | None = None
    """The port, by name or number."""
    scrape_scheme: Literal["http", "https"] | None = None
    """http or https."""


class ExporterConfig(Model):
    scrape_port: IntOrString
    """The port, by name or number."""
    scrape_path: Annotated[str, Field(max_length=128)] | None = None
    """The HTTP path (default /metrics)."""


class MonitorConfig(Model):
    """KubeBlocks' older form of exporter."""

    built_in: bool | None = None
    """The engine serves its own metrics."""
    exporter_config: ExporterConfig | None = None
    """Where an exporter serves them."""


class ContainerPorts(Model):
    container: str
    """A container of the runtime."""
    ports: Annotated[list[str], Field(min_length=1)]
    """Its ports (by name) that take host ports."""


class HostNetwork(Model):
    """KubeBlocks: run the pods in the host network, allocating host ports."""

    container_ports: list[ContainerPorts] = Field(default_factory=list)
    """The ports that get host ports."""


class LogConfig(Model):
    name: Annotated[str, Field(max_length=128)]
    """A kind of log, what a Cluster's enabledLogs names, e.g. slow."""
    file_path_pattern: Annotated[str, Field(max_length=4096)]
    """Where its files are, a glob."""


class ReplicasLimit(Model):
    min_replicas: Annotated[int, Field(ge=0, le=16384)]
    """The fewest instances a component may have."""
    max_replicas: Annotated[int, Field(ge=0, le=16384)]
    """The most instances a component may have."""


class PasswordConfig(Model):
    """How a system account's password is generated (once)."""

    length: Annotated[int, Field(ge=8, le=32)] = 16
    """Characters in all."""
    num_digits: Annotated[int, Field(ge=0, le=8)] = 4
    """How many of them are digits."""
    num_symbols: Annotated[int, Field(ge=0, le=8)] = 0
    """How many of them are symbols."""
    symbol_characters: str | None = None
    """The symbols to draw from (default !@#&*)."""
    letter_case: Literal["LowerCases", "UpperCases", "MixedCases"] = "MixedCases"
    """The letters' case."""
    seed: str | None = None
    """KubeBlocks: makes the password reproducible. kbmc draws it from the system's secure random source."""


class ProvisionSecretRef(Model):
    name: str
    """A Secret whose password key is the account's password."""
    namespace: str
    """Its namespace."""


class SystemAccount(Model):
    name: Annotated[str, Field(min_length=1, max_length=63)]
    """The account's user name, unique in the definition."""
    init_account: bool | None = None
    """The engine creates it itself at start (from the vars that carry its password)."""
    statement: str | None = None
    """KubeBlocks: the statement accountProvision runs to create it."""
    password_generation_policy: PasswordConfig | None = None
    """How its password is generated."""
    secret_ref: ProvisionSecretRef | None = None
    """Take the password from this Secret instead."""


class ServiceRefDeclarationSpec(Model):
    service_kind: str
    """The kind of service, e.g. etcd."""
    service_version: str
    """Its version, a regular expression."""


class ServiceRefDeclaration(Model):
    """KubeBlocks: a service outside the component it depends on, which a Cluster's serviceRefs give."""

    name: str
    """What a Cluster's serviceRefs[].name names."""
    service_ref_declaration_specs: list[ServiceRefDeclarationSpec]
    """The kinds and versions it accepts."""
    optional: bool | None = None
    """It may be left out."""


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
    before the next; the default, as KubeBlocks'), BestEffortParallel (as many at once as keep a majority of the
    voting members Ready) or Parallel (all at once). Writable roles (the leader) last, after a switchover away;
    a Cluster component's updateStrategy overrides it."""
    policy_rules: list[PolicyRule] = Field(default_factory=list)
    """Rules kbmc grants in every data plane through the Role ``kb-<cluster>`` (one per Cluster, with the rules
    of all its components), bound to the ServiceAccount ``kb-<cluster>``."""
    lifecycle_actions: LifecycleActions | None = None
    """Actions kbmc's agent runs inside the pods: roleProbe, switchover, memberJoin, memberLeave."""
    configs: Annotated[list[ComponentConfigSpec], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """KubeBlocks: configuration templates rendered per component. Not supported by kbmc yet (a definition
    with any is Unavailable)."""
    log_configs: Annotated[list[LogConfig], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """The kinds of log a Cluster may enable (enabledLogs), unique by name."""
    exporter: Exporter | None = None
    """Where the metrics are scraped from."""
    monitor: MonitorConfig | None = None
    """KubeBlocks' older form of exporter."""
    host_network: HostNetwork | None = None
    """KubeBlocks: run in the host network. Not supported by kbmc yet."""
    labels: StringMap = Field(default_factory=dict)
    """Added to every pod."""
    annotations: StringMap = Field(default_factory=dict)
    """Added to every pod."""
    replicas_limit: ReplicasLimit | None = None
    """The fewest and most instances a component may have; a Cluster outside them is refused (SpecValid)."""
    system_accounts: list[SystemAccount] = Field(default_factory=list)
    """Accounts of the database: each gets a password, generated once, in the Secret
    ``<cluster>-<component>-account-<name>`` (keys username, password) in every data plane of the placement."""
    pod_management_policy: Literal["OrderedReady", "Parallel"] | None = None
    """KubeBlocks: whether the first pods are created one by one. kbmc creates them all at once and replaces
    them under updateStrategy."""
    role_arbitrator: Literal["External", "Lorry"] | None = None
    """KubeBlocks: who sets the roles; External (the default): the roleProbe, as kbmc runs it."""
    service_ref_declarations: list[ServiceRefDeclaration] = Field(default_factory=list)
    """KubeBlocks: services outside the component it depends on. Not supported by kbmc yet."""
    min_ready_seconds: Annotated[int, Field(ge=0)] | None = None
    """Seconds a new pod must be Ready before it counts as available in a rolling change."""


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

"""``Cluster`` (apps.kubeblocks.io/v1alpha1), with KubeBlocks 0.9's field names, so its manifests apply as is."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kbmc.api.common import (
    DNS_LABEL,
    DNS_SUBDOMAIN_PART,
    ENV_NAME,
    Conditions,
    FreeForm,
    IntOrString,
    Model,
    ObjectMeta,
    Quantity,
    StringMap,
    list_map,
)
from kbmc.api.componentdefinition import PasswordConfig, ProvisionSecretRef

TerminationPolicy = Literal["DoNotTerminate", "Halt", "Delete", "WipeOut"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
ClusterPhase = Literal["Creating", "Running", "Updating", "Stopping", "Stopped", "Deleting", "Failed", "Abnormal"]
AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]


class ResourceClaim(Model):
    name: str
    """A resource claim of the pod (dynamic resource allocation)."""


class ResourceRequirements(Model):
    limits: dict[str, Quantity] = Field(default_factory=dict)
    """Upper bounds, e.g. cpu: 100m, memory: 100M."""
    requests: dict[str, Quantity] = Field(default_factory=dict)
    """What the scheduler reserves."""
    claims: Annotated[list[ResourceClaim], Field(json_schema_extra=list_map("name"))] = Field(default_factory=list)
    """Resource claims the container uses."""


class VolumeResources(Model):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    """storage: the size of the volume, e.g. 20Gi."""
    limits: dict[str, Quantity] = Field(default_factory=dict)
    """Upper bounds, e.g. storage: 50Gi; copied to each PVC as written."""
    claims: Annotated[list[ResourceClaim], Field(json_schema_extra=list_map("name"))] = Field(default_factory=list)
    """Unused for volumes (corev1.ResourceRequirements' field)."""


class PersistentVolumeClaimSpec(Model):
    access_modes: list[AccessMode] = Field(default_factory=list)
    """ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod; copied to each PVC."""
    resources: VolumeResources = Field(default_factory=VolumeResources)
    """Size of each PVC: requests.storage (greater than 0), optionally limits."""
    storage_class_name: str | None = None
    """StorageClass of each PVC, looked up in the instance's data plane; unset: that data plane's default."""
    volume_mode: Literal["Filesystem", "Block"] | None = None
    """Filesystem (the Kubernetes default when unset) or Block; copied to each PVC."""


class VolumeClaimTemplate(Model):
    """One PVC per instance, named ``<name>-<cluster>-<component>-<ordinal>``."""

    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    """Volume name; the ComponentDefinition's runtime mounts it by this name."""
    labels: StringMap = Field(default_factory=dict)
    """Added to each PVC."""
    annotations: StringMap = Field(default_factory=dict)
    """Added to each PVC."""
    spec: PersistentVolumeClaimSpec
    """The claim's spec (accessModes, resources.requests.storage, storageClassName, volumeMode)."""


class ClusterComponentService(Model):
    """Overrides the ComponentDefinition service of the same name."""

    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=25)]
    """Name of a service the ComponentDefinition defines."""
    service_type: ServiceType = "ClusterIP"
    """ClusterIP, NodePort or LoadBalancer."""
    annotations: StringMap = Field(default_factory=dict)
    """Copied onto the Service (cloud LB keys, service.cilium.io/global, ...), except
    apps.kubeblocks.io/multi-cluster-service-placement which says where pod services go (unique | mirror)."""
    pod_service: bool | None = None
    """One Service per pod, ``<cluster>-<component>-<service>-<ordinal>``."""


class EnvVar(Model):
    name: Annotated[str, Field(pattern=ENV_NAME, min_length=1)]
    """Variable name."""
    value: str | None = None
    """Literal value, as in a corev1.EnvVar (unset: valueFrom gives it)."""
    value_from: FreeForm | None = None
    """A corev1.EnvVarSource (fieldRef, configMapKeyRef, ...)."""


class PodAntiAffinity(Model):
    """KubeBlocks 0.9's Affinity (deprecated in 1.0 for schedulingPolicy)."""

    pod_anti_affinity: Literal["Preferred", "Required"] | None = None
    """Keep the component's pods apart over topologyKeys: Preferred (the default) or Required."""
    topology_keys: list[str] = Field(default_factory=list)
    """Node labels the pods are spread over, e.g. kubernetes.io/hostname."""
    node_labels: StringMap = Field(default_factory=dict)
    """Nodes the pods may run on: every label, its value one of the comma-separated values."""
    tenancy: Literal["SharedNode", "DedicatedNode"] | None = None
    """SharedNode (the default); DedicatedNode: no other Cluster's pods on the node."""


class SchedulingPolicy(Model):
    """Where the pods may run (corev1 scheduling fields); replaces affinity and tolerations when set."""

    scheduler_name: str | None = None
    """The scheduler."""
    node_selector: StringMap = Field(default_factory=dict)
    """Node labels a node must have."""
    node_name: str | None = None
    """A node the pods must run on."""
    affinity: FreeForm | None = None
    """A corev1.Affinity."""
    tolerations: list[FreeForm] = Field(default_factory=list)
    """corev1.Tolerations."""
    topology_spread_constraints: list[FreeForm] = Field(default_factory=list)
    """corev1.TopologySpreadConstraints."""


class ServiceRef(Model):
    """KubeBlocks: a service outside the component it depends on (a definition's serviceRefDeclarations)."""

    name: str
    """The serviceRefDeclaration it gives."""
    namespace: str | None = None
    """Where the referenced Cluster or ServiceDescriptor is."""
    cluster: str | None = None
    """KubeBlocks: a Cluster (deprecated)."""
    cluster_service_selector: FreeForm | None = None
    """KubeBlocks: a Service of another Cluster."""
    service_descriptor: str | None = None
    """KubeBlocks: a ServiceDescriptor."""


class ClassDefRef(Model):
    name: str | None = None
    """A ComponentClassDefinition."""
    class_: Annotated[str, Field(alias="class")]
    """A class of it."""


class ComponentSystemAccount(Model):
    """A Cluster's settings of one of the definition's system accounts."""

    name: str
    """An account of the definition (spec.systemAccounts[].name)."""
    password_config: PasswordConfig | None = None
    """How its password is generated, instead of the definition's policy."""
    secret_ref: ProvisionSecretRef | None = None
    """Take its password from this Secret (key password) instead."""


class Issuer(Model):
    name: Literal["KubeBlocks", "UserProvided"] = "KubeBlocks"
    """Who issues the TLS certificates."""
    secret_ref: FreeForm | None = None
    """UserProvided: the Secret and keys of the CA, certificate and key."""


class SwitchPolicy(Model):
    type: Literal["Noop"] = "Noop"
    """Noop (the only value in KubeBlocks 0.9)."""


class UserResourceRefs(Model):
    """KubeBlocks: Secrets and ConfigMaps of the user mounted into the containers."""

    secret_refs: list[FreeForm] = Field(default_factory=list)
    """Secrets, with name, mountPoint, subPath, asVolumeFrom and secret."""
    config_map_refs: list[FreeForm] = Field(default_factory=list)
    """ConfigMaps, with name, mountPoint, subPath, asVolumeFrom and configMap."""


class InstanceTemplate(Model):
    """KubeBlocks: a group of instances that differ from the component's."""

    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=54)]
    """The group's name, part of its pods' names."""
    replicas: Annotated[int, Field(ge=0)] | None = None
    """Its number of instances (default 1)."""
    annotations: StringMap = Field(default_factory=dict)
    """Added to its pods."""
    labels: StringMap = Field(default_factory=dict)
    """Added to its pods."""
    image: str | None = None
    """The first container's image."""
    scheduling_policy: SchedulingPolicy | None = None
    """Merged into the component's."""
    resources: ResourceRequirements | None = None
    """The first container's resources."""
    env: list[EnvVar] = Field(default_factory=list)
    """Extra environment."""
    volumes: list[FreeForm] = Field(default_factory=list)
    """Extra volumes (corev1.Volume)."""
    volume_mounts: list[FreeForm] = Field(default_factory=list)
    """Extra mounts (corev1.VolumeMount)."""
    volume_claim_templates: list[VolumeClaimTemplate] = Field(default_factory=list)
    """Extra or replaced volume claims."""


class ClusterComponentSpec(Model):
    name: Annotated[str, Field(pattern=r"^[a-z]([a-z0-9\-]*[a-z0-9])?$", max_length=22)]
    """Component name, unique in the Cluster; part of every object name."""
    component_def_ref: Annotated[str, Field(pattern=r"^[a-z]([a-z0-9\-]*[a-z0-9])?$", max_length=22)] | None = None
    """KubeBlocks: a component of the ClusterDefinition (clusterDefinitionRef). Not supported by kbmc: name the
    ComponentDefinition in componentDef."""
    component_def: Annotated[str, Field(max_length=64, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")] | None = None
    """The ComponentDefinition: its exact name (e.g. etcd-0.9.0), or a prefix of the names of several (e.g.
    etcd), of which the one supporting serviceVersion with the greatest name is used, as KubeBlocks chooses."""
    service_version: Annotated[str, Field(max_length=32)] | None = None
    """Version of the service to run, e.g. 3.5.15: a version the ComponentDefinition or a ComponentVersion
    release for it supports, whose images the containers run; unset: the newest one."""
    replicas: Annotated[int, Field(ge=0)] = 1
    """Number of instances (ordinals 0 .. replicas-1), spread over the placement's data planes."""
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    """Limits and requests of the first container of each instance, replacing the ComponentDefinition's; empty
    keeps the definition's."""
    volume_claim_templates: Annotated[list[VolumeClaimTemplate], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """Persistent volumes, unique by name: one PVC per instance and template in the instance's data plane, mounted
    under the template's name. Existing PVCs are never rewritten; Halt keeps them on deletion."""
    services: Annotated[list[ClusterComponentService], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """Overrides of the ComponentDefinition's services, unique by name; a name the definition does not define
    makes the Cluster invalid."""
    env: list[EnvVar] = Field(default_factory=list)
    """Extra environment for every container."""
    labels: StringMap = Field(default_factory=dict)
    """Added to the instances' pods."""
    annotations: StringMap = Field(default_factory=dict)
    """Added to the instances' pods."""
    service_account_name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)] | None = (
        None)
    """Run pods as this ServiceAccount instead of kbmc's ``kb-<cluster>`` (it must exist in every data plane)."""
    affinity: PodAntiAffinity | None = None
    """Where the pods may run and how they are kept apart (KubeBlocks 0.9), instead of the Cluster's; ignored
    when a schedulingPolicy is set."""
    tolerations: list[FreeForm] = Field(default_factory=list)
    """corev1.Tolerations of the pods, instead of the Cluster's; ignored when a schedulingPolicy is set."""
    scheduling_policy: SchedulingPolicy | None = None
    """The pods' scheduling fields, instead of the Cluster's; replaces affinity and tolerations."""
    volumes: list[FreeForm] = Field(default_factory=list)
    """Extra volumes of the pods (corev1.Volume)."""
    system_accounts: list[ComponentSystemAccount] = Field(default_factory=list)
    """Settings of the definition's system accounts (password policy, or a Secret to take it from)."""
    update_strategy: Literal["Serial", "BestEffortParallel", "Parallel"] | None = None
    """The order pods are replaced in, instead of the definition's updateStrategy."""
    enabled_logs: list[str] = Field(default_factory=list)
    """KubeBlocks: logs (the definition's logConfigs) to collect. Not supported by kbmc yet."""
    disable_exporter: bool | None = None
    """KubeBlocks: true: do not scrape the component's metrics (kbmc never does, so only true is supported)."""
    monitor: bool | None = None
    """KubeBlocks' older form of disableExporter: false."""
    tls: bool | None = None
    """KubeBlocks: serve with TLS. Not supported by kbmc yet."""
    issuer: Issuer | None = None
    """KubeBlocks: who issues the TLS certificates. Not supported by kbmc yet."""
    switch_policy: SwitchPolicy | None = None
    """KubeBlocks: Noop (the only value)."""
    service_refs: list[ServiceRef] = Field(default_factory=list)
    """KubeBlocks: services outside the component it depends on. Not supported by kbmc yet."""
    class_def_ref: ClassDefRef | None = None
    """KubeBlocks: a resource class. Not supported by kbmc yet."""
    instance_update_strategy: FreeForm | None = None
    """KubeBlocks: partition and maxUnavailable of a rolling change. Not supported by kbmc yet."""
    parallel_pod_management_concurrency: IntOrString | None = None
    """KubeBlocks: how many pods are created at once. Not supported by kbmc yet."""
    pod_update_policy: Literal["StrictInPlace", "PreferInPlace", "Recreate"] | None = None
    """KubeBlocks: in-place updates. kbmc recreates pods (Recreate)."""
    user_resource_refs: UserResourceRefs | None = None
    """KubeBlocks: Secrets and ConfigMaps of the user mounted into the containers. Not supported by kbmc yet."""
    instances: Annotated[list[InstanceTemplate], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """KubeBlocks: groups of instances that differ from the component's. Not supported by kbmc yet."""
    offline_instances: list[str] = Field(default_factory=list)
    """KubeBlocks: instances taken out. Not supported by kbmc yet."""
    stop: bool | None = None
    """KubeBlocks: stop the component, keeping its volumes. Not supported by kbmc yet (set replicas 0)."""


class ShardingTemplate(ClusterComponentSpec):
    name: Annotated[str, Field(pattern=r"^[a-z]([a-z0-9\-]*[a-z0-9])?$", max_length=22)] | None = None  # type: ignore[assignment]
    """Ignored: the shards are named after the sharding."""


class ShardingSpec(Model):
    """KubeBlocks: a number of identical components (shards). Not supported by kbmc yet."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.\-]*[a-z0-9])?$", max_length=15)]
    """The shards' common name."""
    template: ShardingTemplate
    """The component each shard is."""
    shards: Annotated[int, Field(ge=0, le=2048)] | None = None
    """How many."""


class ClusterService(Model):
    """KubeBlocks: a Service of the Cluster over components. Not supported by kbmc yet."""

    name: Annotated[str, Field(max_length=25)]
    """The service's name."""
    service_name: Annotated[str, Field(pattern=r"^[a-z]([a-z0-9\-]*[a-z0-9])?$", max_length=25)] | None = None
    """Suffix of the Service name."""
    annotations: StringMap = Field(default_factory=dict)
    """Copied onto the Service."""
    spec: FreeForm | None = None
    """A corev1.ServiceSpec."""
    role_selector: str | None = None
    """Only the pods of this role."""
    sharding_selector: str | None = None
    """The sharding it serves."""
    component_selector: str | None = None
    """The component it serves."""


class ClusterBackup(Model):
    """KubeBlocks: scheduled backups. Not supported by kbmc yet."""

    enabled: bool | None = None
    """Back up on schedule."""
    retention_period: str | None = None
    """How long backups are kept, e.g. 7d."""
    method: str
    """The backup method."""
    cron_expression: str | None = None
    """When."""
    starting_deadline_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    """How late a backup may start."""
    repo_name: str | None = None
    """The BackupRepo."""
    pitr_enabled: bool | None = None
    """Point-in-time recovery."""
    continuous_method: str | None = None
    """The method of continuous backups."""
    incremental_backup_enabled: bool | None = None
    """Incremental backups."""
    incremental_cron_expression: str | None = None
    """When incremental backups run."""


class ClusterSpec(Model):
    termination_policy: TerminationPolicy
    """DoNotTerminate: deletion refused. Halt: keep PVCs, Secrets, ConfigMaps. Delete / WipeOut: remove all."""
    component_specs: Annotated[list[ClusterComponentSpec], Field(max_length=128, json_schema_extra=list_map(
        "name"))] = Field(default_factory=list)
    """The components, unique by name; each runs replicas instances of its ComponentDefinition."""
    sharding_specs: Annotated[list[ShardingSpec], Field(max_length=128, json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    """KubeBlocks: sharded components. Not supported by kbmc yet."""
    cluster_definition_ref: Annotated[str, Field(pattern=DNS_SUBDOMAIN_PART, max_length=63)] | None = None
    """KubeBlocks: a ClusterDefinition. Not supported by kbmc: name each component's ComponentDefinition."""
    cluster_version_ref: Annotated[str, Field(pattern=DNS_SUBDOMAIN_PART, max_length=63)] | None = None
    """KubeBlocks: a ClusterVersion (deprecated). Not supported by kbmc."""
    topology: Annotated[str, Field(max_length=32)] | None = None
    """KubeBlocks: a topology of the ClusterDefinition. Not supported by kbmc."""
    services: list[ClusterService] = Field(default_factory=list)
    """KubeBlocks: Services of the Cluster over components. Not supported by kbmc yet."""
    affinity: PodAntiAffinity | None = None
    """Where every component's pods may run and how they are kept apart, unless a component sets its own."""
    tolerations: list[FreeForm] = Field(default_factory=list)
    """corev1.Tolerations of every component's pods, unless a component sets its own."""
    scheduling_policy: SchedulingPolicy | None = None
    """The scheduling fields of every component's pods, unless a component sets its own."""
    runtime_class_name: str | None = None
    """The RuntimeClass of every pod."""
    backup: ClusterBackup | None = None
    """KubeBlocks: scheduled backups. Not supported by kbmc yet."""
    tenancy: Literal["SharedNode", "DedicatedNode"] | None = None
    """KubeBlocks (deprecated): use affinity.tenancy. Not supported by kbmc."""
    availability_policy: Literal["zone", "node", "none"] | None = None
    """KubeBlocks (deprecated): use affinity. Not supported by kbmc."""
    replicas: Annotated[int, Field(ge=0)] | None = None
    """KubeBlocks (deprecated, with a ClusterDefinition). Not supported by kbmc."""
    resources: FreeForm | None = None
    """KubeBlocks (deprecated, with a ClusterDefinition): cpu and memory. Not supported by kbmc."""
    storage: FreeForm | None = None
    """KubeBlocks (deprecated, with a ClusterDefinition): size. Not supported by kbmc."""
    network: FreeForm | None = None
    """KubeBlocks (deprecated): hostNetworkAccessible, publiclyAccessible. Not supported by kbmc."""


PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown", "Missing"]
"""A Pod's phase, or Missing (kbmc has not created it, or it is gone)."""


class InstanceStatus(Model):
    name: str
    """Pod name, <cluster>-<component>-<ordinal>."""
    data_plane: str
    """DataPlane the instance is placed in; empty while every data plane of the placement is unavailable."""
    pod_phase: PodPhase = "Missing"
    """The Pod's status.phase as last seen (Pending also for a Pod just created, or one waiting for a data plane);
    Unknown when its data plane cannot be used now; Missing when there is no Pod (not created yet, or gone)."""
    ready: bool = False
    """The Pod's Ready condition is True."""
    role: str | None = None
    """The Pod's role (its kubeblocks.io/role label, from the definition's roleProbe), e.g. leader."""
    addresses: list[str] = Field(default_factory=list)
    """Addresses that reach this instance from other data planes."""


class ComponentStatus(Model):
    phase: ClusterPhase | None = None
    """Deleting; Stopped with no instances; Abnormal when an instance's data plane cannot be used; Running when
    every instance is ready; Creating when none is, Updating when some are."""
    instances: list[InstanceStatus] = Field(default_factory=list)
    """One entry per instance, by ordinal: where it is placed and how its Pod is."""
    component_def: str | None = None
    """The ComponentDefinition it runs (componentDef may name several by prefix)."""
    service_version: str | None = None
    """The service version it runs, whose images its containers have."""


class ClusterStatus(Model):
    observed_generation: int | None = None
    """The .metadata.generation this status was computed from."""
    phase: ClusterPhase | None = None
    """Creating until every instance is first ready, then Running; Updating while some are not ready; Abnormal
    when instances are in a data plane that is unavailable or unreachable; Failed when the spec or placement cannot
    be built; Stopped when every component has 0 replicas; Deleting. kbmc never sets Stopping."""
    ready: str | None = None
    """Ready instances of all components over all instances, e.g. 2/3 (kubectl get's READY column)."""
    components: dict[str, ComponentStatus] = Field(default_factory=dict)
    """Component name -> its phase and instances."""
    conditions: Conditions = Field(default_factory=list)
    """Unique by type: Ready (always present), and PlacementValid, SpecValid, FieldsSupported (fields kept but
    not acted on yet, each named), DataPlanesAvailable,
    DataPlanesReachable, AddressesResolved, ResourcesApplied, Updated (a rolling change or membership change
    under way, held, or an action failed), RolesProbed (a pod's roleProbe fails or prints an unknown role) and
    DeletionAllowed once they have been False."""


class Cluster(Model):
    """A database cluster: components whose instances kbmc spreads over the data planes of its placement
    (KubeBlocks 0.9 field names)."""

    api_version: Literal["apps.kubeblocks.io/v1alpha1"] = "apps.kubeblocks.io/v1alpha1"
    """Versioned schema of this object: apps.kubeblocks.io/v1alpha1."""
    kind: Literal["Cluster"] = "Cluster"
    """Cluster."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata. The annotation apps.kubeblocks.io/multi-cluster-placement lists the data planes
    (comma-separated) the instances go to; kbmc chooses and writes it when absent."""
    spec: ClusterSpec
    """Desired state: the components and what deletion does."""
    status: ClusterStatus = Field(default_factory=ClusterStatus)
    """Observed state, written by kbmc."""

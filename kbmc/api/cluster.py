"""``Cluster`` (apps.kubeblocks.io/v1alpha1), with KubeBlocks 0.9's field names, so its manifests apply as is."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kbmc.api.common import (
    DNS_LABEL,
    ENV_NAME,
    Conditions,
    FreeForm,
    IntOrString,
    Model,
    ObjectMeta,
    StringMap,
    list_map,
)

TerminationPolicy = Literal["DoNotTerminate", "Halt", "Delete", "WipeOut"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
ClusterPhase = Literal["Creating", "Running", "Updating", "Stopping", "Stopped", "Deleting", "Failed", "Abnormal"]
AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]


class ResourceRequirements(Model):
    limits: dict[str, IntOrString] = Field(default_factory=dict)
    """Upper bounds, e.g. cpu: 100m, memory: 100M."""
    requests: dict[str, IntOrString] = Field(default_factory=dict)
    """What the scheduler reserves."""


class VolumeResources(Model):
    requests: dict[str, IntOrString] = Field(default_factory=dict)
    """storage: the size of the volume, e.g. 20Gi."""
    limits: dict[str, IntOrString] = Field(default_factory=dict)
    """Upper bounds, e.g. storage: 50Gi; copied to each PVC as written."""


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


class ClusterComponentSpec(Model):
    name: Annotated[str, Field(pattern=r"^[a-z]([a-z0-9\-]*[a-z0-9])?$", max_length=22)]
    """Component name, unique in the Cluster; part of every object name."""
    component_def: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    """Name of the ComponentDefinition, e.g. etcd-0.9.0."""
    service_version: Annotated[str, Field(max_length=32)] | None = None
    """Version of the service to run, e.g. 3.5.15. kbmc runs the ComponentDefinition's images and cannot choose
    another version: a value other than the definition's serviceVersion blocks the Cluster (SpecValid False)."""
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
    service_account_name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)] | None = None
    """Run pods as this ServiceAccount instead of kbmc's ``kb-<cluster>`` (it must exist in every data plane)."""


class ClusterSpec(Model):
    termination_policy: TerminationPolicy
    """DoNotTerminate: deletion refused. Halt: keep PVCs, Secrets, ConfigMaps. Delete / WipeOut: remove all."""
    component_specs: Annotated[list[ClusterComponentSpec], Field(min_length=1, json_schema_extra=list_map("name"))]
    """The components, unique by name (at least one); each runs replicas instances of its ComponentDefinition."""


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
    """Unique by type: Ready (always present), and PlacementValid, SpecValid, DataPlanesAvailable,
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

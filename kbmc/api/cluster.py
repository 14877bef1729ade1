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


class PersistentVolumeClaimSpec(Model):
    access_modes: list[AccessMode] = Field(default_factory=list)
    resources: VolumeResources = Field(default_factory=VolumeResources)
    storage_class_name: str | None = None
    volume_mode: Literal["Filesystem", "Block"] | None = None


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
    value: str | None = None
    value_from: FreeForm | None = None
    """A corev1.EnvVarSource (fieldRef, configMapKeyRef, ...)."""


class ClusterComponentSpec(Model):
    name: Annotated[str, Field(pattern=r"^[a-z]([a-z0-9\-]*[a-z0-9])?$", max_length=22)]
    """Component name, unique in the Cluster; part of every object name."""
    component_def: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    """Name of the ComponentDefinition, e.g. etcd-0.9.0."""
    service_version: Annotated[str, Field(max_length=32)] | None = None
    replicas: Annotated[int, Field(ge=0)] = 1
    """Number of instances (ordinals 0 .. replicas-1), spread over the placement's data planes."""
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    volume_claim_templates: Annotated[list[VolumeClaimTemplate], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
    services: Annotated[list[ClusterComponentService], Field(json_schema_extra=list_map("name"))] = Field(
        default_factory=list)
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


PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown", "Missing"]
"""A Pod's phase, or Missing (kbmc has not created it, or it is gone)."""


class InstanceStatus(Model):
    name: str
    """Pod name, <cluster>-<component>-<ordinal>."""
    data_plane: str
    pod_phase: PodPhase = "Missing"
    ready: bool = False
    addresses: list[str] = Field(default_factory=list)
    """Addresses that reach this instance from other data planes."""


class ComponentStatus(Model):
    phase: ClusterPhase | None = None
    instances: list[InstanceStatus] = Field(default_factory=list)


class ClusterStatus(Model):
    observed_generation: int | None = None
    phase: ClusterPhase | None = None
    components: dict[str, ComponentStatus] = Field(default_factory=dict)
    conditions: Conditions = Field(default_factory=list)


class Cluster(Model):
    api_version: Literal["apps.kubeblocks.io/v1alpha1"] = "apps.kubeblocks.io/v1alpha1"
    kind: Literal["Cluster"] = "Cluster"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ClusterSpec
    status: ClusterStatus = Field(default_factory=ClusterStatus)

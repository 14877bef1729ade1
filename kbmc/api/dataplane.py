"""``DataPlane`` (kbmc.io/v1alpha1, cluster-scoped): one data-plane cluster, the SRE's decision about
it (spec) and what kbmc observes of it (status), kept apart."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from kbmc.api.common import Conditions, Model, ObjectMeta, StringMap

GROUP = "kbmc.io"


class DataPlaneSpec(Model):
    model_config = ConfigDict(json_schema_extra={
        # Marking a data plane unavailable needs a reason: either available is true, or a reason is given.
        "anyOf": [{"properties": {"available": {"enum": [True]}}}, {"required": ["unavailableReason"]}],
    })

    context: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^\S+$")]
    """The kubeconfig context (in the operator's kubeconfig Secret) that reaches this cluster."""
    service_annotations: StringMap = Field(default_factory=dict)
    """Added to every Service kbmc creates here (cloud LB keys differ per cloud); a Cluster's own
    annotation of the same key wins."""
    allowed_namespaces: list[Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]] = (
        Field(default_factory=list))
    """Namespaces whose Clusters may place replicas here; empty means all."""
    available: bool = True
    """False once an SRE marks the data plane unavailable: kbmc stops sending it any request."""
    unavailable_reason: Annotated[str, Field(max_length=1024)] | None = None
    """Why it was marked unavailable (required when available is false)."""
    marked_by: Annotated[str, Field(max_length=253)] | None = None
    """Who last changed availability."""
    marked_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    """When availability last changed."""

    @model_validator(mode="after")
    def _reason_when_unavailable(self) -> DataPlaneSpec:
        if not self.available and not self.unavailable_reason:
            raise ValueError("spec.unavailableReason is required when spec.available is false")
        return self


class DataPlaneStatus(Model):
    observed_generation: int | None = None
    """The .metadata.generation the conditions were computed from."""
    reachable: bool | None = None
    """Whether the last probe got an answer (observed health, separate from spec.available)."""
    last_contact: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    """Last successful request."""
    server_version: str | None = None
    """Kubernetes version its API server reported at the last successful probe (gitVersion, e.g. v1.30.2)."""
    message: str | None = None
    """Why the last probe got no answer, or why kbmc has no usable credentials for it."""
    conditions: Conditions = Field(default_factory=list)
    """Available (spec.available), Reachable (the last probe) and Ready (kbmc can work there)."""


class DataPlane(Model):
    """One data-plane Kubernetes cluster kbmc places instances in: the SRE's decision about it (spec) and what
    kbmc observes of it (status)."""

    api_version: Literal["kbmc.io/v1alpha1"] = "kbmc.io/v1alpha1"
    """Versioned schema of this object: kbmc.io/v1alpha1."""
    kind: Literal["DataPlane"] = "DataPlane"
    """DataPlane."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata; the name is what a Cluster's placement annotation names, e.g. k8s-1."""
    spec: DataPlaneSpec
    """The SRE's decision about this data plane: how to reach it, who may use it, whether it is available."""
    status: DataPlaneStatus = Field(default_factory=DataPlaneStatus)
    """What kbmc observes of it (health probes), written by kbmc."""

"""``ComponentVersion`` (apps.kubeblocks.io/v1alpha1): the releases of a service, their versions and images,
and which ComponentDefinitions each release may run with (KubeBlocks 0.9)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kbmc.api.common import Model, ObjectMeta


class CompatibilityRule(Model):
    comp_defs: Annotated[list[str], Field(min_length=1, max_length=128)]
    """ComponentDefinitions, each an exact name, a name prefix or a regular expression."""
    releases: Annotated[list[str], Field(min_length=1, max_length=128)]
    """Releases (spec.releases[].name) those definitions can run."""


class ComponentVersionRelease(Model):
    name: Annotated[str, Field(min_length=1, max_length=32)]
    """The release's name, unique in the ComponentVersion."""
    changes: Annotated[str, Field(max_length=256)] | None = None
    """What changed in it, in words."""
    service_version: Annotated[str, Field(min_length=1, max_length=32)]
    """The version of the service it runs (semantic versioning), what a Cluster's serviceVersion names."""
    images: Annotated[dict[str, Annotated[str, Field(max_length=256)]], Field(min_length=1, max_length=128)]
    """Container name (of the definitions' runtime, initContainers included) -> its image."""


class ComponentVersionSpec(Model):
    compatibility_rules: Annotated[list[CompatibilityRule], Field(min_length=1, max_length=128)]
    """Which definitions run which releases."""
    releases: Annotated[list[ComponentVersionRelease], Field(min_length=1, max_length=128)]
    """The releases."""


class ComponentVersionStatus(Model):
    observed_generation: int | None = None
    """The .metadata.generation kbmc last checked."""
    phase: Literal["Available", "Unavailable"] | None = None
    """Available: its releases can be used. Unavailable: it is invalid (message says why)."""
    message: str | None = None
    """Why it is Unavailable."""
    service_versions: str | None = None
    """The releases' service versions, comma-separated (kubectl get's VERSIONS column)."""


class ComponentVersion(Model):
    """The releases of a service (versions and images) and the ComponentDefinitions they run with; a Cluster
    component's serviceVersion picks a release, whose images its containers run."""

    api_version: Literal["apps.kubeblocks.io/v1alpha1"] = "apps.kubeblocks.io/v1alpha1"
    """Versioned schema of this object: apps.kubeblocks.io/v1alpha1."""
    kind: Literal["ComponentVersion"] = "ComponentVersion"
    """ComponentVersion."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""
    spec: ComponentVersionSpec
    """The releases and the rules."""
    status: ComponentVersionStatus = Field(default_factory=ComponentVersionStatus)
    """Whether kbmc can use it, written by kbmc."""

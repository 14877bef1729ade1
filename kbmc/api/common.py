"""Pieces shared by kbmc's resource models: the base config (camelCase aliases identical to the CRD
field names), Kubernetes-shaped helper types, and the schema markers the CRD generator understands."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""RFC 1123 label: what Kubernetes accepts in a name that becomes part of other objects' names."""
DNS_SUBDOMAIN_PART = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
"""RFC 1123 subdomain characters (dots allowed): a name that becomes part of ConfigMap or Secret names."""
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
"""A valid environment variable name (as Kubernetes validates EnvVar.name)."""


class Model(BaseModel):
    """Base of every model: camelCase aliases, field docstrings become CRD descriptions.

    Unknown fields are ignored when reading (the API server has already pruned them)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, use_attribute_docstrings=True,
                              extra="ignore")

    def dump(self) -> dict[str, Any]:
        """The object as the API stores it: aliases, no unset fields, no empty lists or maps (the API server
        drops those, so keeping them would look like drift)."""
        pruned: dict[str, Any] = _prune(self.model_dump(by_alias=True, exclude_none=True, mode="json"))
        return pruned


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


IntOrString = Annotated[
    int | str,
    WithJsonSchema({"x-kubernetes-int-or-string": True,
                    "anyOf": [{"type": "integer"}, {"type": "string"}]}),
]
"""A quantity or port: ``100m``, ``1Gi``, ``2``."""

QUANTITY = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)"
            r"|(\.[0-9]+))))?$")
"""A Kubernetes resource.Quantity, as the API server's own schema writes it: ``100m``, ``1Gi``, ``2``."""


def _quantity(value: int | float | str) -> int | float | str:
    if isinstance(value, str) and not re.match(QUANTITY, value):
        raise ValueError(f"{value!r} is not a quantity (e.g. 500m, 2, 1Gi)")
    return value


Quantity = Annotated[
    int | float | str,
    AfterValidator(_quantity),
    WithJsonSchema({"x-kubernetes-int-or-string": True, "pattern": QUANTITY,
                    "anyOf": [{"type": "integer"}, {"type": "string"}]}),
]
"""A resource quantity, validated as Kubernetes does."""

FreeForm = Annotated[dict[str, Any], WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True})]
"""An embedded Kubernetes object kept as is (a PodSpec, a ServiceSpec): the API server validates it when
kbmc creates the real object in a data plane."""

StringMap = dict[str, str]


def list_map(*keys: str) -> dict[str, Any]:
    """Schema marker: a list whose items are unique by ``keys`` (duplicates are rejected)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


class ObjectMeta(Model):
    """The parts of metav1.ObjectMeta kbmc reads and writes."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    """Object name, unique in its namespace (or cluster-wide for a cluster-scoped kind)."""
    generate_name: str | None = None
    """Prefix the API server completes into a unique name when name is empty."""
    namespace: str | None = None
    """Namespace of a namespaced object; empty for a cluster-scoped one."""
    uid: str | None = None
    """Set by the API server, unique over time; kbmc labels what it creates for a Cluster with it."""
    resource_version: str | None = None
    """Opaque version of the object, set by the API server on every write (optimistic concurrency)."""
    generation: int | None = None
    """Sequence number of the spec, incremented by the API server on every spec change."""
    labels: StringMap = Field(default_factory=dict)
    """Identifying key/value pairs, used by selectors."""
    annotations: StringMap = Field(default_factory=dict)
    """Non-identifying key/value pairs (kbmc reads and writes its own keys here)."""
    finalizers: list[str] = Field(default_factory=list)
    """Keys that hold the object while deleted until removed (kbmc's is kbmc.io/cleanup)."""
    deletion_timestamp: str | None = None
    """RFC 3339 time the deletion was requested, set by the API server."""
    creation_timestamp: str | None = None
    """RFC 3339 time the object was created, set by the API server."""


class Condition(Model):
    """metav1.Condition."""

    type: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=316)]
    """PascalCase type, e.g. Ready."""
    status: Literal["True", "False", "Unknown"]
    """True, False or Unknown."""
    reason: Annotated[str, Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)]
    """One CamelCase word saying why."""
    message: Annotated[str, Field(max_length=32768)] = ""
    """Human-readable detail."""
    last_transition_time: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    """When status last changed."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation the condition was computed from."""


Conditions = Annotated[list[Condition], Field(json_schema_extra=list_map("type"))]

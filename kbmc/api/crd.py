"""Generate CustomResourceDefinitions from the models (pure: models in, dicts out).

pydantic's JSON Schema is turned into a structural OpenAPI v3 schema: ``$ref`` inlined, optional
``anyOf [X, null]`` collapsed to X, titles dropped, free-form objects marked
``x-kubernetes-preserve-unknown-fields``. Descriptions (field docstrings) are kept: a field's own wins over
its type's. ``hack/generate.py`` writes the result to ``crds/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from kbmc.api.cluster import Cluster
from kbmc.api.common import Model
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.componentversion import ComponentVersion
from kbmc.api.dataplane import GROUP as KBMC_GROUP
from kbmc.api.dataplane import DataPlane

KUBEBLOCKS_GROUP = "apps.kubeblocks.io"
VERSION = "v1alpha1"


class Column(NamedTuple):
    """One of ``kubectl get``'s columns (an additionalPrinterColumn)."""

    name: str
    type: str
    """string, integer, number, boolean or date."""
    json_path: str
    description: str
    """What the column shows (``kubectl explain`` and the OpenAPI document carry it)."""
    priority: int = 0
    """0: always shown; 1: with ``kubectl get -o wide`` only."""


@dataclass(frozen=True)
class Resource:
    """How one model is served: names, scope and the columns ``kubectl get`` prints."""

    model: type[Model]
    group: str
    kind: str
    plural: str
    short_names: tuple[str, ...]
    namespaced: bool = True
    columns: tuple[Column, ...] = ()
    categories: tuple[str, ...] = field(default=("kbmc",))

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"


RESOURCES = (
    Resource(Cluster, KUBEBLOCKS_GROUP, "Cluster", "clusters", ("cl",), columns=(
        Column("TERMINATION-POLICY", "string", ".spec.terminationPolicy",
               "What deletion does: DoNotTerminate, Halt, Delete or WipeOut."),
        Column("PLACEMENT", "string", ".metadata.annotations.apps\\.kubeblocks\\.io/multi-cluster-placement",
               "Data planes the instances go to (the multi-cluster-placement annotation)."),
        Column("PHASE", "string", ".status.phase", "The Cluster's phase, e.g. Creating, Running, Abnormal."),
        Column("READY", "string", ".status.ready", "Ready instances over all instances."),
        Column("AGE", "date", ".metadata.creationTimestamp", "Time since the Cluster was created."),
        Column("MESSAGE", "string", '.status.conditions[?(@.type=="Ready")].message',
               "Why the Cluster is not ready, when it is not.", priority=1),
    ), categories=("kubeblocks", "kbmc", "all")),
    Resource(ComponentDefinition, KUBEBLOCKS_GROUP, "ComponentDefinition", "componentdefinitions", ("cmpd",),
             namespaced=False, columns=(
                 Column("SERVICE", "string", ".spec.serviceKind", "Kind of service it provides, e.g. etcd."),
                 Column("SERVICE-VERSION", "string", ".spec.serviceVersion",
                        "Version of the service its images run."),
                 Column("STATUS", "string", ".status.phase",
                        "Available, or Unavailable when invalid (status.message says why)."),
                 Column("AGE", "date", ".metadata.creationTimestamp", "Time since it was created."),
             ), categories=("kubeblocks", "kbmc")),
    Resource(ComponentVersion, KUBEBLOCKS_GROUP, "ComponentVersion", "componentversions", ("cmpv",),
             namespaced=False, columns=(
                 Column("VERSIONS", "string", ".status.serviceVersions", "The releases' service versions."),
                 Column("STATUS", "string", ".status.phase",
                        "Available, or Unavailable when invalid (status.message says why)."),
                 Column("AGE", "date", ".metadata.creationTimestamp", "Time since it was created."),
             ), categories=("kubeblocks", "kbmc")),
    Resource(DataPlane, KBMC_GROUP, "DataPlane", "dataplanes", ("dp",), namespaced=False, columns=(
        Column("CONTEXT", "string", ".spec.context", "The kubeconfig context that reaches the data plane."),
        Column("READY", "string", '.status.conditions[?(@.type=="Ready")].status',
               "The Ready condition: available, reachable and with usable credentials."),
        Column("AVAILABLE", "boolean", ".spec.available", "False once an SRE marked it unavailable."),
        Column("REACHABLE", "boolean", ".status.reachable", "Whether the last probe got an answer."),
        Column("REASON", "string", ".spec.unavailableReason", "Why it was marked unavailable."),
        Column("LAST-CONTACT", "date", ".status.lastContact", "Time since the last successful request."),
        Column("AGE", "date", ".metadata.creationTimestamp", "Time since the DataPlane was created."),
        Column("VERSION", "string", ".status.serverVersion", "Kubernetes version its API server reports.",
               priority=1),
        Column("MARKED-BY", "string", ".spec.markedBy", "Who last marked it unavailable or available.", priority=1),
    )),
)


def prose(text: str) -> str:
    """A docstring as a description: lines wrapped for the source joined, blank-line paragraphs kept."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in re.split(r"\n\s*\n", text.strip()))


def structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Convert one pydantic JSON Schema node to a structural OpenAPI v3 schema node."""
    if "$ref" in schema:
        target = defs[schema["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return structural(merged, defs)
    any_of = schema.get("anyOf")
    if any_of and not schema.get("x-kubernetes-int-or-string"):
        options = [s for s in any_of if s.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return structural({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs") or (key == "default" and value in (None, "", [], {})):
            continue
        if key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = structural(value, defs)
        elif key == "anyOf":
            out[key] = [structural(s, defs) for s in value]
        elif key == "description":
            out[key] = prose(value)
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" in out and "additionalProperties" in out:
        del out["additionalProperties"]  # structural schemas forbid both; properties win
    return out


def _description(schema: dict[str, Any]) -> dict[str, str]:
    return {"description": schema["description"]} if schema.get("description") else {}


def openapi_schema(model: type[Model]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema = structural(raw, defs)
    props = schema["properties"]
    # apiVersion, kind and metadata are the API server's business; the CRD declares them plainly (with the
    # fields' descriptions, but none on metadata: the API server publishes ObjectMeta's own).
    props["apiVersion"] = {"type": "string", **_description(props["apiVersion"])}
    props["kind"] = {"type": "string", **_description(props["kind"])}
    props["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    schema.pop("additionalProperties", None)
    schema.pop("x-kubernetes-preserve-unknown-fields", None)
    return schema


def crd(resource: Resource) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": resource.name, "labels": {"app.kubernetes.io/managed-by": "kbmc"}},
        "spec": {
            "group": resource.group,
            "scope": "Namespaced" if resource.namespaced else "Cluster",
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.kind.lower(),
                "shortNames": list(resource.short_names),
                "categories": list(resource.categories),
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": c.name, "type": c.type, "jsonPath": c.json_path, "description": c.description,
                     **({"priority": c.priority} if c.priority else {})}
                    for c in resource.columns
                ],
                "schema": {"openAPIV3Schema": openapi_schema(resource.model)},
            }],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD, for every resource kbmc serves."""
    return {f"{r.group}_{r.plural}.yaml": crd(r) for r in RESOURCES}


class NoAliasDumper(yaml.SafeDumper):
    """YAML without anchors (a manifest reads the same wherever a list is shared)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(document: dict[str, Any]) -> str:
    """YAML text of one CRD, as written to ``crds/``."""
    header = "# Generated by hack/generate.py from kbmc/api; do not edit.\n"
    return header + yaml.dump(document, Dumper=NoAliasDumper, sort_keys=False, width=120)

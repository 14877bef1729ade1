"""Generate CustomResourceDefinitions from the models (pure: models in, dicts out).

pydantic's JSON Schema is turned into a structural OpenAPI v3 schema: ``$ref`` inlined, optional
``anyOf [X, null]`` collapsed to X, titles dropped, free-form objects marked
``x-kubernetes-preserve-unknown-fields``. ``hack/generate.py`` writes the result to ``crds/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from kbmc.api.cluster import Cluster
from kbmc.api.common import Model
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.dataplane import GROUP as KBMC_GROUP
from kbmc.api.dataplane import DataPlane

KUBEBLOCKS_GROUP = "apps.kubeblocks.io"
VERSION = "v1alpha1"


@dataclass(frozen=True)
class Resource:
    """How one model is served: names, scope and the columns ``kubectl get`` prints."""

    model: type[Model]
    group: str
    kind: str
    plural: str
    short_names: tuple[str, ...]
    namespaced: bool = True
    columns: tuple[tuple[str, str, str], ...] = ()
    categories: tuple[str, ...] = field(default=("kbmc",))

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"


RESOURCES = (
    Resource(Cluster, KUBEBLOCKS_GROUP, "Cluster", "clusters", ("cl",), columns=(
        ("TERMINATION-POLICY", "string", ".spec.terminationPolicy"),
        ("PLACEMENT", "string", ".metadata.annotations.apps\\.kubeblocks\\.io/multi-cluster-placement"),
        ("PHASE", "string", ".status.phase"),
        ("AGE", "date", ".metadata.creationTimestamp"),
    ), categories=("kubeblocks", "kbmc", "all")),
    Resource(ComponentDefinition, KUBEBLOCKS_GROUP, "ComponentDefinition", "componentdefinitions", ("cmpd",),
             namespaced=False, columns=(
                 ("SERVICE", "string", ".spec.serviceKind"),
                 ("SERVICE-VERSION", "string", ".spec.serviceVersion"),
                 ("STATUS", "string", ".status.phase"),
                 ("AGE", "date", ".metadata.creationTimestamp"),
             ), categories=("kubeblocks", "kbmc")),
    Resource(DataPlane, KBMC_GROUP, "DataPlane", "dataplanes", ("dp",), namespaced=False, columns=(
        ("CONTEXT", "string", ".spec.context"),
        ("READY", "string", '.status.conditions[?(@.type=="Ready")].status'),
        ("AVAILABLE", "boolean", ".spec.available"),
        ("REACHABLE", "boolean", ".status.reachable"),
        ("REASON", "string", ".spec.unavailableReason"),
        ("LAST-CONTACT", "date", ".status.lastContact"),
        ("AGE", "date", ".metadata.creationTimestamp"),
    )),
)


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
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" in out and "additionalProperties" in out:
        del out["additionalProperties"]  # structural schemas forbid both; properties win
    return out


def openapi_schema(model: type[Model]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema = structural(raw, defs)
    props = schema["properties"]
    # apiVersion, kind and metadata are the API server's business; the CRD declares them plainly.
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    schema.pop("description", None)
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
                    {"name": name, "type": kind, "jsonPath": path} for name, kind, path in resource.columns
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

"""The CRDs on a real API server: installed and Established, the addon and the seed examples accepted as
written, and every mistake a schema can catch rejected with a message naming the field.

Matrix: Established | addon accepted | seeds 2 and 3 accepted (generateName) | seed 1 rejected naming
volumeClaimTemplates.spec | 30 invalid Cluster / ComponentDefinition / DataPlane manifests | printer columns.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kbmc.kube import rest
from tests.kube import Clusters

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "examples"
GROUP, VERSION = "apps.kubeblocks.io", "v1alpha1"
Mutation = Callable[[dict[str, Any]], None]


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def component(m: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = m["spec"]["componentSpecs"][0]
    return spec


def create_cluster(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "clusters", body)
    return result


def rejection(call: Callable[[], Any]) -> str:
    with pytest.raises(client.ApiException) as err:
        call()
    assert err.value.status == 422, err.value.body
    message: str = json.loads(err.value.body)["message"]
    return message


def test_crds_are_established(crds: None, clusters: Clusters) -> None:
    ext = client.ApiextensionsV1Api(clusters["control"])
    names = {c.metadata.name for c in ext.list_custom_resource_definition().items}
    assert {"clusters.apps.kubeblocks.io", "componentdefinitions.apps.kubeblocks.io",
            "dataplanes.kbmc.io"} <= names


def test_etcd_addon_is_accepted(crds: None, clusters: Clusters) -> None:
    custom = client.CustomObjectsApi(clusters["control"])
    body = load(ROOT / "addons/etcd/componentdefinition.yaml")
    body["metadata"]["name"] = "etcd-test-accept"
    created = custom.create_cluster_custom_object(GROUP, VERSION, "componentdefinitions", body)
    assert created["spec"]["vars"][0]["valueFrom"]["serviceVarRef"]["loadBalancer"] == "Required"
    # nothing the addon says was pruned
    assert created["spec"]["runtime"] == body["spec"]["runtime"]
    custom.delete_cluster_custom_object(GROUP, VERSION, "componentdefinitions", "etcd-test-accept")


@pytest.mark.parametrize("seed", ["etcd-cross-cloud-lb.yaml", "etcd-self-hosted-cilium.yaml"])
def test_seed_examples_are_accepted_as_written(crds: None, clusters: Clusters, namespace: str, seed: str) -> None:
    body = load(SEEDS / seed)
    body["metadata"]["namespace"] = namespace
    created = create_cluster(clusters["control"], namespace, body)
    assert created["metadata"]["name"].startswith("etcd")
    assert created["spec"]["componentSpecs"] == body["spec"]["componentSpecs"]


def test_first_seed_example_is_rejected_naming_the_field(crds: None, clusters: Clusters, namespace: str) -> None:
    body = load(SEEDS / "etcd-cloud-lb.yaml")
    body["metadata"]["namespace"] = namespace
    message = rejection(lambda: create_cluster(clusters["control"], namespace, body))
    assert "spec.componentSpecs.volumeClaimTemplates.spec: Required value" in message


def _assign(target: Any, path: str, value: Any) -> None:
    """Set (or with _DELETE remove) a dotted path, list indexes as numbers."""
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


def _set(path: str, value: Any) -> Mutation:
    """Mutation setting a dotted path below spec.componentSpecs[0] (or the root with a leading '/')."""
    def mutate(m: dict[str, Any]) -> None:
        _assign(m if path.startswith("/") else component(m), path.lstrip("/"), value)
    return mutate


_DELETE = object()


def _duplicate(path: str) -> Mutation:
    def mutate(m: dict[str, Any]) -> None:
        items = m["spec"]["componentSpecs"] if path == "/" else component(m)[path]
        items.append(copy.deepcopy(items[0]))
    return mutate


CLUSTER_CASES: list[tuple[str, Mutation, str]] = [
    ("bad termination policy", _set("/spec.terminationPolicy", "Forever"), "spec.terminationPolicy: Unsupported value"),
    ("no termination policy", _set("/spec.terminationPolicy", _DELETE), "spec.terminationPolicy: Required value"),
    ("no spec", _set("/spec", _DELETE), "spec: Required value"),
    ("negative replicas", _set("replicas", -1), "spec.componentSpecs.replicas"),
    ("replicas not a number", _set("replicas", "three"), "spec.componentSpecs.replicas"),
    ("storage not a quantity", _set("volumeClaimTemplates.0.spec.resources.requests.storage", "lots"),
     "spec.componentSpecs.volumeClaimTemplates.spec.resources.requests.storage"),
    ("cpu not a quantity", _set("resources.limits.cpu", "fast"), "spec.componentSpecs.resources.limits.cpu"),
    ("empty componentDef", _set("componentDef", ""), "spec.componentSpecs.componentDef"),
    ("no component name", _set("name", _DELETE), "spec.componentSpecs.name: Required value"),
    ("component name not a DNS label", _set("name", "Etcd_1"), "spec.componentSpecs.name"),
    ("component name too long", _set("name", "e" * 23), "spec.componentSpecs.name"),
    ("duplicated component", _duplicate("/"), "spec.componentSpecs[1]: Duplicate value"),
    ("bad service type", _set("services.0.serviceType", "Ingress"), "spec.componentSpecs.services.serviceType"),
    ("podService not a boolean", _set("services.0.podService", "yes"), "spec.componentSpecs.services.podService"),
    ("service without name", _set("services.0.name", _DELETE), "spec.componentSpecs.services.name: Required"),
    ("duplicated service", _duplicate("services"), "spec.componentSpecs[0].services[1]: Duplicate value"),
    ("annotation value not a string", _set("services.0.annotations", {"a": 1}),
     "spec.componentSpecs.services.annotations.a"),
    ("volume claim without name", _set("volumeClaimTemplates.0.name", _DELETE),
     "spec.componentSpecs.volumeClaimTemplates.name: Required value"),
    ("bad access mode", _set("volumeClaimTemplates.0.spec.accessModes", ["ReadWriteSometimes"]),
     "spec.componentSpecs.volumeClaimTemplates.spec.accessModes"),
    ("bad volume mode", _set("volumeClaimTemplates.0.spec.volumeMode", "Tape"),
     "spec.componentSpecs.volumeClaimTemplates.spec.volumeMode"),
    ("cpu limit an object", _set("resources.limits.cpu", {"a": 1}), "spec.componentSpecs.resources.limits.cpu"),
    ("env without name", _set("env", [{"value": "x"}]), "spec.componentSpecs.env.name: Required value"),
    ("bad serviceAccountName", _set("serviceAccountName", "Bad_Name"), "spec.componentSpecs.serviceAccountName"),
    ("labels not strings", _set("labels", {"tier": 3}), "spec.componentSpecs.labels.tier"),
]


@pytest.mark.parametrize(("case", "mutate", "field"), CLUSTER_CASES, ids=[c[0] for c in CLUSTER_CASES])
def test_invalid_cluster_is_rejected_naming_the_field(crds: None, clusters: Clusters, namespace: str, case: str,
                                                      mutate: Mutation, field: str) -> None:
    body = load(SEEDS / "etcd-self-hosted-cilium.yaml")
    body["metadata"]["namespace"] = namespace
    mutate(body)
    assert field in rejection(lambda: create_cluster(clusters["control"], namespace, body))


def _cmpd(path: str, value: Any) -> dict[str, Any]:
    body = load(ROOT / "addons/etcd/componentdefinition.yaml")
    body["metadata"]["name"] = "etcd-invalid"
    _assign(body["spec"], path, value)
    return body


COMPONENT_DEFINITION_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("runtime without containers", _cmpd("runtime.containers", _DELETE), "spec.runtime.containers: Required value"),
    ("var name invalid", _cmpd("vars.0.name", "1 PEER"), "spec.vars.name"),
    ("bad var option", _cmpd("vars.0.valueFrom.serviceVarRef.host", "Always"),
     "spec.vars.valueFrom.serviceVarRef.host: Unsupported value"),
    ("bad update strategy", _cmpd("updateStrategy", "AllAtOnce"), "spec.updateStrategy: Unsupported value"),
    ("service port out of range", _cmpd("services.0.spec.ports.0.port", 70000), "spec.services.spec.ports.port"),
    ("policy rule without verbs", _cmpd("policyRules.0.verbs", _DELETE), "spec.policyRules.verbs: Required value"),
]


@pytest.mark.parametrize(("case", "body", "field"), COMPONENT_DEFINITION_CASES,
                         ids=[c[0] for c in COMPONENT_DEFINITION_CASES])
def test_invalid_component_definition_is_rejected(crds: None, clusters: Clusters, case: str, body: dict[str, Any],
                                                  field: str) -> None:
    custom = client.CustomObjectsApi(clusters["control"])
    assert field in rejection(lambda: custom.create_cluster_custom_object(GROUP, VERSION, "componentdefinitions", body))


DATA_PLANE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no context", {}, "spec.context: Required value"),
    ("context with whitespace", {"context": "k8s 1"}, "spec.context"),
    ("unavailable without reason", {"context": "k8s-1", "available": False}, "spec.available: Unsupported value"),
    ("namespace not a DNS label", {"context": "k8s-1", "allowedNamespaces": ["Bad NS"]}, "spec.allowedNamespaces"),
]


@pytest.mark.parametrize(("case", "spec", "field"), DATA_PLANE_CASES, ids=[c[0] for c in DATA_PLANE_CASES])
def test_invalid_data_plane_is_rejected(crds: None, clusters: Clusters, case: str, spec: dict[str, Any],
                                        field: str) -> None:
    custom = client.CustomObjectsApi(clusters["control"])
    body = {"apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": "bad"}, "spec": spec}
    assert field in rejection(lambda: custom.create_cluster_custom_object("kbmc.io", "v1alpha1", "dataplanes", body))


def _columns(api: client.ApiClient, path: str) -> tuple[list[str], list[list[Any]]]:
    table = rest.request(api, "GET", path, accept="application/json;as=Table;v=v1beta1;g=meta.k8s.io")
    return [c["name"] for c in table["columnDefinitions"]], [r["cells"] for r in table["rows"]]


def test_kubectl_get_shows_phase_placement_and_availability(crds: None, clusters: Clusters, namespace: str) -> None:
    api = clusters["control"]
    body = load(SEEDS / "etcd-self-hosted-cilium.yaml")
    body["metadata"]["namespace"] = namespace
    create_cluster(api, namespace, body)
    names, rows = _columns(api, f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/clusters")
    assert names == ["Name", "TERMINATION-POLICY", "PLACEMENT", "PHASE", "READY", "AGE", "MESSAGE"]
    assert rows[0][1:3] == ["WipeOut", "k8s-1,k8s-2,k8s-3"]
    custom = client.CustomObjectsApi(api)
    custom.create_cluster_custom_object("kbmc.io", "v1alpha1", "dataplanes", {
        "apiVersion": "kbmc.io/v1alpha1", "kind": "DataPlane", "metadata": {"name": "columns-test"},
        "spec": {"context": "k8s-9", "available": False, "unavailableReason": "zone outage"}})
    try:
        names, rows = _columns(api, "/apis/kbmc.io/v1alpha1/dataplanes")
        assert names == ["Name", "CONTEXT", "READY", "AVAILABLE", "REACHABLE", "REASON", "LAST-CONTACT", "AGE",
                         "VERSION", "MARKED-BY"]
        row = next(r for r in rows if r[0] == "columns-test")
        assert row[1] == "k8s-9" and row[3] is False and row[5] == "zone outage"
    finally:
        custom.delete_cluster_custom_object("kbmc.io", "v1alpha1", "dataplanes", "columns-test")

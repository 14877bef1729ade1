"""KubeBlocks 0.9 manifests as they are written (tests/data/kubeblocks-0.9: kubeblocks-addons' etcd, redis,
postgresql, mysql, mongodb and kafka definitions and versions, and their example Clusters).

Matrix: every definition, version and Cluster is accepted by the API server with nothing pruned | every
definition gets an honest verdict (Unavailable naming each part kbmc does not run yet), every version one too
(Available, its service versions listed) | a Cluster on an Unavailable definition, or on KubeBlocks' older
ClusterDefinition API, is told why and nothing is created anywhere | a Cluster naming its definition by prefix,
with images from a ComponentVersion, runs real etcd; a new serviceVersion rolls the other release's images in and
the data stays | a system account's password: one Secret, copied unchanged to every data plane, shown nowhere.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.kube import rest
from tests.kube import Clusters, wait_object
from tests.operator.helpers import (
    PLANES,
    ROOT,
    condition,
    create_cluster,
    kbmc,
    objects,
    patch_cluster,
    phase_is,
    seed,
    wait_cluster,
)
from tests.operator.test_day2 import _settled
from tests.operator.test_etcd import etcdctl
from tests.operator_env import Operator, reported_etcd

CORPUS = Path(__file__).resolve().parents[1] / "data/kubeblocks-0.9"


def _corpus(kind: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CORPUS.glob("*/*.yaml")):
        body = yaml.safe_load(path.read_text())
        if body["kind"] == kind:
            out.append((path.stem, body))
    return out


def _kept(written: Any, stored: Any) -> bool:
    """Whether everything ``written`` says is in ``stored`` (the API server adds defaults, and drops nulls)."""
    if isinstance(written, dict):
        return isinstance(stored, dict) and all(v is None or (k in stored and _kept(v, stored[k]))
                                                for k, v in written.items())
    if isinstance(written, list):
        return isinstance(stored, list) and len(written) == len(stored) and all(map(_kept, written, stored))
    return bool(written == stored)


@pytest.fixture
def catalog(operator: Operator, clusters: Clusters) -> Any:
    """The corpus's definitions and versions, applied as written; removed afterwards (versions first). kbmc's
    own addons of the same names (redis-7, redis-sentinel-7) are replaced meanwhile, and put back after."""
    control = clusters["control"]
    created: list[tuple[str, str]] = []
    replaced: list[tuple[str, dict[str, Any]]] = []
    try:
        pruned = []
        for kind in ("ComponentDefinition", "ComponentVersion"):
            for _, body in _corpus(kind):
                name = body["metadata"]["name"]
                ours = wait_object(control, kind, None, name, lambda o: True, timeout=0)
                if ours is not None:
                    replaced.append((kind, ours))
                    rest.delete(control, {"kind": kind, "metadata": {"name": name}})
                    wait_object(control, kind, None, name, lambda o: o is None, timeout=60)
                stored = rest.call(control, "POST", rest.path(kind), body=body)
                created.append((kind, name))
                if not _kept(body["spec"], stored["spec"]):
                    pruned.append(f"{kind} {name}")
        assert not pruned, f"the API server dropped part of {', '.join(pruned)}"
        yield created
    finally:
        for kind, name in reversed(created):
            rest.delete(control, {"kind": kind, "metadata": {"name": name}})
        for kind, name in created:
            wait_object(control, kind, None, name, lambda o: o is None, timeout=60)
        for kind, ours in replaced:
            rest.call(control, "POST", rest.path(kind), body={
                "apiVersion": "apps.kubeblocks.io/v1alpha1", "kind": kind,
                "metadata": {k: ours["metadata"][k] for k in ("name", "labels", "annotations")
                             if k in ours["metadata"]}, "spec": ours["spec"]})


def _verdict(control: Any, kind: str, name: str) -> dict[str, Any]:
    found = wait_object(control, kind, None, name, lambda o: (o or {}).get("status", {}).get(
        "observedGeneration") == (o or {}).get("metadata", {}).get("generation"), timeout=60)
    assert found is not None
    return dict(found["status"])


def test_kubeblocks_definitions_and_versions_apply_unchanged_and_get_an_honest_verdict(
        catalog: list[tuple[str, str]], clusters: Clusters) -> None:
    control = clusters["control"]
    verdicts = {(kind, name): _verdict(control, kind, name) for kind, name in catalog}
    definitions = {n: v for (k, n), v in verdicts.items() if k == "ComponentDefinition"}
    assert len(definitions) == 38
    for name, status in definitions.items():
        assert status["phase"] == "Unavailable" and status["message"], f"{name}: {status}"
    assert definitions["etcd"]["message"] == (
        "spec.configs: config templates are not supported yet; spec.scripts[script].namespace default: kbmc reads "
        "script templates from its own namespace kb-system")
    assert "spec.lifecycleActions.accountProvision: not run by kbmc yet" in definitions["mysql-8.0"]["message"]
    assert "spec.vars[" in definitions["redis-7"]["message"], "each var kind kbmc does not resolve is named"
    versions = {n: v for (k, n), v in verdicts.items() if k == "ComponentVersion"}
    assert len(versions) == 18
    for name, status in versions.items():
        assert status["phase"] == "Available", f"{name}: {status}"
    assert versions["etcd"]["serviceVersions"] == "3.5.15,3.5.6,3.6.1"


def test_kubeblocks_example_clusters_apply_unchanged_and_are_told_why_nothing_runs(
        catalog: list[tuple[str, str]], clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    names = []
    for stem, written in _corpus("Cluster"):
        body = copy.deepcopy(written)
        body["metadata"].update(name=stem[:40].rstrip("-"), namespace=namespace)
        stored = create_cluster(control, body)
        assert _kept(body["spec"], stored["spec"]), f"{stem}: the API server dropped part of it"
        names.append(body["metadata"]["name"])
    for name in names:
        found = wait_cluster(control, namespace, name, lambda c: (condition(c, "SpecValid") or {}).get(
            "status") == "False")
        assert found is not None
        said = condition(found, "SpecValid") or {}
        assert said.get("reason") in ("ComponentDefinitionInvalid", "ComponentDefinitionNotFound",
                                      "ServiceVersionUnsupported", "NoComponents"), (name, said)
        assert found["status"]["phase"] == "Failed"
    mongodb = wait_cluster(control, namespace, "mongodb-cluster", lambda c: c is not None)
    assert "serviceVersion 6.0.16: no ComponentDefinition for mongodb supports it (supported: mongodb: 4.0.28" in (
        condition(mongodb, "SpecValid") or {}).get("message", ""), "the versions it could have are named"
    mysql = wait_cluster(control, namespace, "mysql-cluster-cmpd", lambda c: c is not None)
    assert "ComponentDefinition mysql-8.0 is invalid" in (condition(mysql, "SpecValid") or {}).get("message", "")
    redis = wait_cluster(control, namespace, "redis-cluster-cmpd", lambda c: (condition(c, "FieldsSupported") or {}
                                                                              ).get("status") == "False")
    assert "spec.componentSpecs[redis].enabledLogs: not supported yet" in (
        condition(redis, "FieldsSupported") or {})["message"]
    for plane in PLANES:
        for name in names:
            assert objects(clusters, plane, namespace, name) == {}, f"{name}: something was created in {plane}"
    for name in names:
        rest.delete(control, {"kind": "Cluster", "metadata": {"name": name, "namespace": namespace}})
    for name in names:
        wait_cluster(control, namespace, name, lambda c: c is None)


def _imageless(name: str) -> dict[str, Any]:
    """kbmc's etcd addon as KubeBlocks writes its own: no images in the definition, no serviceVersion."""
    body = yaml.safe_load((ROOT / "addons/etcd/componentdefinition.yaml").read_text())
    body["metadata"] = {"name": name}
    body["spec"].pop("serviceVersion")
    for container in body["spec"]["runtime"]["containers"]:
        container.pop("image")
    return dict(body)


def _release(version: str) -> dict[str, Any]:
    return {"name": version, "serviceVersion": version, "images": {"etcd": f"docker.io/apecloud/etcd:v{version}"}}


def test_a_prefix_and_a_component_version_run_real_etcd_and_a_new_service_version_rolls_in(
        operator: Operator, clusters: Clusters, namespace: str) -> None:
    control, bed = clusters["control"], operator.bed
    tag = namespace[-6:]
    definition, version = f"etcd-nover-{tag}-0.9.0", f"etcd-nover-{tag}"
    rest.call(control, "POST", rest.path("ComponentDefinition"), body=_imageless(definition))
    rest.call(control, "POST", rest.path("ComponentVersion"), body={
        "apiVersion": "apps.kubeblocks.io/v1alpha1", "kind": "ComponentVersion", "metadata": {"name": version},
        "spec": {"compatibilityRules": [{"compDefs": [f"etcd-nover-{tag}"], "releases": ["3.5.6", "3.5.15"]}],
                 "releases": [_release("3.5.6"), _release("3.5.15")]}})
    try:
        assert _verdict(control, "ComponentVersion", version)["phase"] == "Available"
        body = seed("etcd-cross-cloud-lb.yaml", namespace, "nover", processes=True, componentDef=f"etcd-nover-{tag}")
        create_cluster(control, body)
        cluster = wait_cluster(control, namespace, "nover", _settled(3), timeout=120)
        assert cluster is not None
        component = cluster["status"]["components"]["etcd"]
        assert (component["componentDef"], component["serviceVersion"]) == (definition, "3.5.15"), "the newest"
        described = kbmc(bed, "cluster", "describe", "nover", "-n", namespace).stdout
        assert f"component etcd: ComponentDefinition {definition}, serviceVersion 3.5.15" in described, described
        images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for plane in PLANES
                  for p in rest.call(clusters[plane], "GET", rest.path("Pod", namespace))["items"]}
        assert set(images.values()) == {"docker.io/apecloud/etcd:v3.5.15"}, images
        address = component["instances"][0]["addresses"][0]
        assert etcdctl(bed, address, "put", "kept", "yes").returncode == 0

        patch_cluster(control, namespace, "nover", {"spec": {"componentSpecs": [{
            **cluster["spec"]["componentSpecs"][0], "serviceVersion": "3.5.6"}]}})
        settled = wait_cluster(control, namespace, "nover", lambda c: _settled(3)(c) and (
            c or {})["status"]["components"]["etcd"].get("serviceVersion") == "3.5.6", timeout=240)
        assert settled is not None
        images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for plane in PLANES
                  for p in rest.call(clusters[plane], "GET", rest.path("Pod", namespace))["items"]}
        assert set(images.values()) == {"docker.io/apecloud/etcd:v3.5.6"}, images
        read = etcdctl(bed, settled["status"]["components"]["etcd"]["instances"][1]["addresses"][0], "get", "kept",
                       "--print-value-only")
        assert read.stdout.strip() == "yes", read.stderr
    finally:
        rest.delete(control, {"kind": "Cluster", "metadata": {"name": "nover", "namespace": namespace}})
        wait_cluster(control, namespace, "nover", lambda c: c is None, timeout=120)
        rest.delete(control, {"kind": "ComponentVersion", "metadata": {"name": version}})
        rest.delete(control, {"kind": "ComponentDefinition", "metadata": {"name": definition}})


def test_an_account_password_is_one_secret_in_every_data_plane_and_never_shown(
        operator: Operator, clusters: Clusters, namespace: str) -> None:
    """credentialVarRef with systemAccounts: the password is generated once into the control plane's Secret
    ``<cluster>-<component>-account-<name>`` (owned by the Cluster), copied unchanged into each data plane, given to
    the containers through a secretKeyRef, and found in no status, Event or log line."""
    control = clusters["control"]
    definition = reported_etcd()
    name = definition["metadata"]["name"] = f"etcd-account-{namespace[-6:]}"
    definition["spec"]["systemAccounts"] = [{"name": "root", "initAccount": True}]
    definition["spec"]["vars"].append({"name": "ROOT_PASSWORD", "valueFrom": {"credentialVarRef": {
        "name": "root", "password": "Required"}}})
    rest.call(control, "POST", rest.path("ComponentDefinition"), body=definition)
    try:
        assert _verdict(control, "ComponentDefinition", name)["phase"] == "Available"
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "acct", componentDef=name))
        cluster = wait_cluster(control, namespace, "acct", phase_is("Running"), timeout=90)
        assert cluster is not None
        secret = "acct-etcd-account-root"
        original = rest.call(control, "GET", rest.path("Secret", namespace, secret))
        assert original["metadata"]["ownerReferences"][0]["uid"] == cluster["metadata"]["uid"]
        password = base64.b64decode(original["data"]["password"]).decode()
        assert len(password) == 16 and base64.b64decode(original["data"]["username"]).decode() == "root"
        for plane in PLANES:
            copy_ = rest.call(clusters[plane], "GET", rest.path("Secret", namespace, secret))
            assert copy_["data"] == original["data"], f"the copy in {plane} differs"
            pod = rest.call(clusters[plane], "GET", rest.path("Pod", namespace))["items"][0]
            env = pod["spec"]["containers"][0]["env"]
            assert {"name": "ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}} in env
        rest.call(control, "PATCH", rest.path("Cluster", namespace, "acct"), content_type=rest.MERGE_PATCH,
                  body={"metadata": {"annotations": {"touched": "yes"}}})
        again = wait_cluster(control, namespace, "acct", lambda c: (c or {}).get("metadata", {}).get(
            "annotations", {}).get("touched") == "yes")
        assert rest.call(control, "GET", rest.path("Secret", namespace, secret))["data"] == original["data"], (
            "generated once")
        events = rest.call(control, "GET", rest.path("Event", namespace))["items"]
        shown = [str(again), str(events), operator.log.read_text()]
        shown += [str(rest.call(clusters[p], "GET", rest.path("ConfigMap", namespace))) for p in PLANES]
        assert not [text for text in shown if password in text], "the password was shown"
    finally:
        rest.delete(control, {"kind": "Cluster", "metadata": {"name": "acct", "namespace": namespace}})
        wait_cluster(control, namespace, "acct", lambda c: c is None, timeout=90)
        rest.delete(control, {"kind": "ComponentDefinition", "metadata": {"name": name}})

"""``kbmc install`` / ``status`` / ``uninstall`` / ``cluster`` / ``dataplane join`` as a user runs them.

Matrix: install again is idempotent | install with a missing Secret, a missing context, an unreachable data
plane, an identity without the permissions: each names the problem, exits 1 and writes nothing more |
status rows | uninstall refuses while Clusters exist | cluster list / describe | join the control plane as
a least-privilege data plane: a Cluster runs there; the identity can do what kbmc needs and nothing else
(real RBAC authorizer); detach refuses while Clusters are placed there, then removes what join made.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
import yaml

from kbmc.kube import rest
from kbmc.kube.client import new_client
from tests.kube import Clusters
from tests.operator.helpers import create_cluster, kbmc, objects, phase_is, seed, wait_cluster
from tests.operator_env import NAMESPACE, SECRET, Operator, create


def install(operator: Operator, *args: str) -> subprocess.CompletedProcess[str]:
    return kbmc(operator.bed, "install", "--local", *args)


def test_install_again_is_idempotent(operator: Operator) -> None:
    result = install(operator, "--set", "multiCluster.kubeConfig=" + SECRET,
                     "--set", "multiCluster.contexts=k8s-1,k8s-2,k8s-3")
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("CRDs established", "kbmc-operator", "addons: etcd-0.9.0", "DataPlanes k8s-1, k8s-2, k8s-3",
                 "every permission verified"):
        assert step in result.stdout


def _secret(control: object, name: str, kubeconfig: dict) -> None:  # type: ignore[type-arg]
    create(control, "Secret", NAMESPACE, {"metadata": {"name": name}, "data": {  # type: ignore[arg-type]
        "kubeconfig": base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()}})


@pytest.mark.parametrize(("case", "args", "message"), [
    ("secret missing", ["--kubeconfig-secret", "absent", "--contexts", "k8s-1"],
     "Secret kb-system/absent not found: create it with `kubectl -n kb-system create secret generic absent"),
    ("context missing", ["--kubeconfig-secret", SECRET, "--contexts", "k8s-1,k8s-7"],
     "context(s) k8s-7 not in Secret kb-system/kbmc-dataplanes (it has: control, k8s-1, k8s-2, k8s-3)"),
    ("no contexts", ["--kubeconfig-secret", SECRET], "no data plane given"),
    ("data plane unreachable", ["--kubeconfig-secret", "unreachable", "--contexts", "k8s-1"],
     "data plane k8s-1 unreachable"),
    ("permissions missing", ["--kubeconfig-secret", "nobody", "--contexts", "k8s-1"],
     "kbmc's identity (context k8s-1) may not: get pods"),
])
def test_install_failures_name_the_problem(operator: Operator, clusters: Clusters, case: str, args: list[str],
                                           message: str) -> None:
    control = clusters["control"]
    broken = yaml.safe_load(operator.bed.kubeconfig.read_text())
    for cluster in broken["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens there
    _secret(control, "unreachable", broken)
    nobody = yaml.safe_load(operator.bed.kubeconfig.read_text())
    for user in nobody["users"]:
        user["user"]["token"] = operator.bed.load().cluster(user["name"].removesuffix("-admin")).tokens["nobody"]
    _secret(control, "nobody", nobody)
    result = install(operator, *args)
    assert result.returncode == 1
    assert message in result.stdout + result.stderr


def test_status_cluster_list_and_describe(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "shown"))
    wait_cluster(control, namespace, "shown", phase_is("Running"))
    status = kbmc(operator.bed, "status")
    assert status.returncode == 0, status.stderr
    assert "control plane: reachable (v1.20.2)" in status.stdout
    for plane in ("k8s-1", "k8s-2", "k8s-3"):
        assert plane in status.stdout
    listed = kbmc(operator.bed, "cluster", "list", "-n", namespace)
    assert "shown" in listed.stdout and "Running" in listed.stdout and "3/3" in listed.stdout
    as_json = json.loads(kbmc(operator.bed, "cluster", "list", "-n", namespace, "-o", "json").stdout)
    assert as_json["kind"] == "List" and [i["metadata"]["name"] for i in as_json["items"]] == ["shown"]
    everywhere = kbmc(operator.bed, "cluster", "list", "-A", "-o", "wide")
    assert namespace in everywhere.stdout and "COMPONENTS" in everywhere.stdout and "etcd" in everywhere.stdout
    described = kbmc(operator.bed, "cluster", "describe", "shown", "-n", namespace)
    for row in ("shown-etcd-0", "k8s-1", "127.1.0.", "shown-etcd-2", "k8s-3", "Ready", "Events:",
                "all instances are ready"):
        assert row in described.stdout
    assert yaml.safe_load(kbmc(operator.bed, "cluster", "describe", "shown", "-n", namespace, "-o", "yaml").stdout)[
        "status"]["phase"] == "Running"
    status_json = json.loads(kbmc(operator.bed, "status", "-o", "json").stdout)
    assert {p["name"]: p["ok"] for p in status_json["dataPlanes"]} == {"k8s-1": True, "k8s-2": True, "k8s-3": True}
    refused = kbmc(operator.bed, "uninstall")
    assert refused.returncode == 1 and "Cluster(s) exist" in refused.stderr


def test_join_a_least_privilege_data_plane(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    result = subprocess.run([sys.executable, "-m", "kbmc", "dataplane", "join", "control-lp",
                             "--kubeconfig", str(operator.bed.kubeconfig), "--context", "control",
                             "--control-kubeconfig", str(operator.bed.kubeconfig), "--control-context", "control"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    secret = rest.call(control, "GET", rest.path("Secret", NAMESPACE, SECRET))
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["kubeconfig"]))
    joined = new_client("", "control-lp", agent="kbmc/test", kubeconfig_dict=kubeconfig)
    assert rest.allowed(joined, "create", "", "pods", "default")
    assert rest.allowed(joined, "create", "rbac.authorization.k8s.io", "roles", "default")
    for verb, resource in (("get", "secrets"), ("delete", "nodes"), ("create", "clusterroles"), ("*", "*")):
        assert not rest.allowed(joined, verb, "" if resource != "clusterroles" else "rbac.authorization.k8s.io",
                                resource, "default"), f"{verb} {resource} should be denied"
    try:
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "lp", placement="control-lp",
                                     replicas=1))
        wait_cluster(control, namespace, "lp", phase_is("Running"))
        assert objects(clusters, "control", namespace, "lp")["Pod"] == ["lp-etcd-0"]
        refused = kbmc(operator.bed, "dataplane", "detach", "control-lp")
        assert refused.returncode == 1 and "still holds Cluster(s)" in refused.stdout + refused.stderr
        rest.call(control, "DELETE", rest.path("Cluster", namespace, "lp"))
        wait_cluster(control, namespace, "lp", lambda c: c is None)
    finally:
        detached = kbmc(operator.bed, "dataplane", "detach", "control-lp")
    assert detached.returncode == 0, detached.stderr
    secret = rest.call(control, "GET", rest.path("Secret", NAMESPACE, SECRET))
    contexts = [c["name"] for c in yaml.safe_load(base64.b64decode(secret["data"]["kubeconfig"]))["contexts"]]
    assert "control-lp" not in contexts

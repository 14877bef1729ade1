"""``kbmc install`` / ``status`` / ``uninstall`` / ``cluster`` / ``dataplane join`` as a user runs them.

Matrix: install again is idempotent | install with a missing Secret, a missing context, an unreachable data
plane, an identity without the permissions: each names the problem, exits 1 and writes nothing more |
install with a CRD of kbmc's kinds that kbmc did not install: refused naming it, nothing written; --force takes
it over | status rows | uninstall refuses while Clusters exist | cluster list / describe | join the control plane
as a least-privilege data plane (its own token Secret, --server): a Cluster runs there; the identity can do what
kbmc needs and nothing else (real RBAC authorizer); detach refuses while Clusters are placed there, and without
the cluster's admin kubeconfig, then removes what join made | join refuses a server without a CA (nothing
written), --insecure-skip-tls-verify joins it | join names its token Secret when the token controller does not
fill it.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.api.crd import all_crds
from kbmc.dev.bed import Bed
from kbmc.errors import InstallError, NotFoundError
from kbmc.kube import crds, rest
from kbmc.kube.client import Api, new_client
from kbmc.ops import join as joining
from tests.kube import Clusters, Obj, wait_object
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


def _join(bed: Bed, name: str, context: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``kbmc dataplane join`` with the bed's admin kubeconfig for the data plane (``kbmc`` adds the control
    plane's ``--kubeconfig`` / ``--context``)."""
    return kbmc(bed, "dataplane", "join", name, "--cluster-kubeconfig", str(bed.kubeconfig), "--cluster-context",
                context, *args)


def _identity(api: Api) -> dict[str, Obj | None]:
    """What join makes in a data plane, by kind (None: absent)."""
    out: dict[str, Obj | None] = {}
    for manifest in joining.identity_manifests():
        meta = manifest["metadata"]
        try:
            out[manifest["kind"]] = rest.call(api, "GET", rest.path(manifest["kind"], meta.get("namespace"),
                                                                    meta["name"]))
        except NotFoundError:
            out[manifest["kind"]] = None
    return out


def _secret_kubeconfig(control: Api) -> dict[str, Any]:
    secret = rest.call(control, "GET", rest.path("Secret", NAMESPACE, SECRET))
    parsed: dict[str, Any] = yaml.safe_load(base64.b64decode(secret["data"]["kubeconfig"]))
    return parsed


def test_join_a_least_privilege_data_plane(operator: Operator, clusters: Clusters, namespace: str) -> None:
    """Joined as karmadactl joins: its own token Secret, the address given by --server (localhost: in the serving
    certificate, not the kubeconfig's 127.0.0.1), the CA from the admin kubeconfig."""
    control, bed = clusters["control"], operator.bed
    server = bed.load().cluster("control").url.replace("127.0.0.1", "localhost")
    result = _join(bed, "control-lp", "control", "--server", server)
    assert result.returncode == 0, result.stderr
    made = _identity(control)
    token_secret = made["Secret"]
    assert made["ServiceAccount"] and made["ClusterRoleBinding"] and token_secret
    assert token_secret["type"] == "kubernetes.io/service-account-token" and token_secret["data"]["token"]
    assert token_secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kbmc"
    assert token_secret["metadata"]["annotations"]["kubernetes.io/service-account.name"] == "kbmc"
    kubeconfig = _secret_kubeconfig(control)
    entry = next(c["cluster"] for c in kubeconfig["clusters"] if c["name"] == "control-lp")
    assert entry["server"] == server and entry["certificate-authority-data"] and "insecure-skip-tls-verify" not in entry
    joined = new_client("", "control-lp", agent="kbmc/test", kubeconfig_dict=kubeconfig)
    assert rest.allowed(joined, "create", "", "pods", "default")
    assert rest.allowed(joined, "create", "rbac.authorization.k8s.io", "roles", "default")
    # secrets: kbmc copies system accounts' Secrets into the data planes (and reads them to see a copy differ)
    for verb, resource in (("delete", "namespaces"), ("delete", "nodes"), ("create", "clusterroles"), ("*", "*")):
        assert not rest.allowed(joined, verb, "" if resource != "clusterroles" else "rbac.authorization.k8s.io",
                                resource, "default"), f"{verb} {resource} should be denied"
    try:
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "lp", placement="control-lp",
                                     replicas=1))
        wait_cluster(control, namespace, "lp", phase_is("Running"))
        assert objects(clusters, "control", namespace, "lp")["Pod"] == ["lp-etcd-0"]
        refused = kbmc(bed, "dataplane", "detach", "control-lp")
        assert refused.returncode == 1 and "still holds Cluster(s)" in refused.stdout + refused.stderr
        rest.call(control, "DELETE", rest.path("Cluster", namespace, "lp"))
        wait_cluster(control, namespace, "lp", lambda c: c is None)
        no_admin = kbmc(bed, "dataplane", "detach", "control-lp")
        assert no_admin.returncode == 1 and no_admin.stderr.strip().splitlines() == [
            "error: data plane control-lp was joined: pass --cluster-kubeconfig FILE [--cluster-context CTX] (its "
            "admin credentials) so that detach removes ServiceAccount kube-system/kbmc, ClusterRoleBinding kbmc, "
            "Secret kube-system/kbmc-token there, or --force to leave them (a cluster gone for good)"]
    finally:
        detached = kbmc(bed, "dataplane", "detach", "control-lp", "--cluster-kubeconfig", str(bed.kubeconfig),
                        "--cluster-context", "control")
    assert detached.returncode == 0, detached.stderr
    assert "control-lp" not in [c["name"] for c in _secret_kubeconfig(control)["contexts"]]
    assert _identity(control) == {"ServiceAccount": None, "ClusterRoleBinding": None, "Secret": None}
    with pytest.raises(NotFoundError):
        rest.call(control, "GET", rest.path("DataPlane", name="control-lp"))


def test_join_refuses_a_server_it_cannot_verify(operator: Operator, clusters: Clusters, tmp_path: Path) -> None:
    """A data-plane kubeconfig without a CA: refused before anything is written, unless
    --insecure-skip-tls-verify (then the operator skips verifying it, and says so in the Secret)."""
    bed, control, k8s3 = operator.bed, clusters["control"], clusters["k8s-3"]
    doc = yaml.safe_load(bed.kubeconfig.read_text())
    for cluster in doc["clusters"]:
        cluster["cluster"].pop("certificate-authority-data")
        cluster["cluster"]["insecure-skip-tls-verify"] = True  # so that join itself can reach it
    no_ca = tmp_path / "no-ca"
    no_ca.write_text(yaml.safe_dump(doc))
    command = ["dataplane", "join", "k8s-3-noca", "--cluster-kubeconfig", str(no_ca), "--cluster-context", "k8s-3"]
    refused = kbmc(bed, *command)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: kubeconfig {no_ca}, context k8s-3 has no certificate-authority(-data) for "
        f"{bed.load().cluster('k8s-3').url}: the operator could not verify that server; add its CA there, or pass "
        "--insecure-skip-tls-verify"]
    assert _identity(k8s3) == {"ServiceAccount": None, "ClusterRoleBinding": None, "Secret": None}
    assert "k8s-3-noca" not in [c["name"] for c in _secret_kubeconfig(control)["contexts"]]
    bad_server = kbmc(bed, *command, "--server", "127.0.0.1:6443")
    assert bad_server.returncode == 1 and "--server '127.0.0.1:6443' is not an https:// URL" in bad_server.stderr
    try:
        joined = kbmc(bed, *command, "--insecure-skip-tls-verify")
        assert joined.returncode == 0, joined.stderr
        entry = next(c["cluster"] for c in _secret_kubeconfig(control)["clusters"] if c["name"] == "k8s-3-noca")
        assert entry == {"server": bed.load().cluster("k8s-3").url, "insecure-skip-tls-verify": True}
        wait_object(control, "DataPlane", None, "k8s-3-noca",
                    lambda dp: bool(dp and (dp.get("status") or {}).get("reachable")), timeout=30)
    finally:
        detached = kbmc(bed, "dataplane", "detach", "k8s-3-noca", "--cluster-kubeconfig", str(bed.kubeconfig),
                        "--cluster-context", "k8s-3")
    assert detached.returncode == 0, detached.stderr
    assert _identity(k8s3) == {"ServiceAccount": None, "ClusterRoleBinding": None, "Secret": None}


def test_join_names_a_token_the_token_controller_did_not_fill(operator: Operator, clusters: Clusters) -> None:
    """k8s-3's kube-controller-manager paused: join's Secret stays empty, and join says which Secret and who
    should have filled it."""
    bed, control, k8s3 = operator.bed, clusters["control"], clusters["k8s-3"]
    manager = bed.load().cluster("k8s-3").procs["kube-controller-manager"]
    os.kill(manager.pid, signal.SIGSTOP)
    try:
        with pytest.raises(InstallError) as raised:
            joining.join(control, k8s3, "k8s-3-stuck", NAMESPACE, SECRET, timeout=3)
    finally:
        os.kill(manager.pid, signal.SIGCONT)
        for manifest in reversed(joining.identity_manifests()):
            rest.delete(k8s3, manifest)
    assert str(raised.value) == (
        "Secret kube-system/kbmc-token in data plane k8s-3-stuck has no token after 3 s: the token controller "
        "(kube-controller-manager's serviceaccount-token controller) did not fill it; is it running there?")
    assert "k8s-3-stuck" not in [c["name"] for c in _secret_kubeconfig(control)["contexts"]]


def test_install_refuses_crds_it_did_not_install(operator: Operator, clusters: Clusters) -> None:
    """The Cluster CRD made someone else's (another field manager's label, kbmc's managed fields gone), as an
    existing KubeBlocks' is: install names it and writes nothing; --force takes it over."""
    control = clusters["control"]
    other = new_client(operator.bed.kubeconfig, "control", agent="helm/3.14")
    crd = rest.path("CustomResourceDefinition", name="clusters.apps.kubeblocks.io")
    rest.call(other, "PATCH", crd, content_type=rest.MERGE_PATCH,
              body={"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"}, "managedFields": [{}]}})
    assert not crds.owned(control, ["clusters.apps.kubeblocks.io"])["clusters.apps.kubeblocks.io"]
    try:
        refused = install(operator, "--kubeconfig-secret", SECRET, "--contexts", "k8s-1,k8s-2,k8s-3")
        assert refused.returncode == 1
        assert ("✗ CRD(s) clusters.apps.kubeblocks.io exist and were not installed by kbmc (KubeBlocks?): kbmc would "
                "replace them; uninstall what installed them, or pass --force to take them over") in refused.stdout
        assert "CRDs established" not in refused.stdout
        assert rest.call(control, "GET", crd)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        forced = install(operator, "--kubeconfig-secret", SECRET, "--contexts", "k8s-1,k8s-2,k8s-3", "--force")
        assert forced.returncode == 0, forced.stdout + forced.stderr
    finally:  # whatever happened, kbmc's CRD is kbmc's again for the tests after this one
        crds.apply_crds(control, list(all_crds().values()), force=True)
    assert rest.call(control, "GET", crd)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kbmc"

"""The CLI and the operator reach the control plane with credentials as kubectl has them: a client certificate
only (as kind's and kubeadm's kubeconfigs give), and a ``$KUBECONFIG`` list merged as kubectl merges it.

Matrix: the CLI with the bed's certificate-only kubeconfig (its API servers trust client certificates of its
CA, as kind's do) | the CLI with ``$KUBECONFIG`` = a file with the user, context and current-context
+ the bed's file with the cluster | ``kbmc operator run`` with the certificate-only kubeconfig (kopf's watches
and kbmc's own clients both log in with the certificate): a Cluster converges and is deleted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import create_cluster, phase_is, seed, wait_cluster
from tests.operator_env import Operator


def _kubeconfig(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **doc}))
    return path


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbmc", *args], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "COLUMNS": "200", **env})


def test_cli_and_operator_with_a_client_certificate(operator: Operator, clusters: Clusters, namespace: str,
                                                     tmp_path: Path) -> None:
    bed, control = operator.bed, clusters["control"]
    cert_only = bed.certificate_kubeconfig
    user = next(u for u in yaml.safe_load(cert_only.read_text())["users"] if u["name"] == "control-admin")
    assert set(user["user"]) == {"client-certificate", "client-key"}
    # no cluster here: the context names the bed's file's, as kind-up.sh's list does
    user_only = _kubeconfig(tmp_path / "user-only", {
        "users": [{**user, "name": "cert-admin"}], "current-context": "control-cert",
        "contexts": [{"name": "control-cert", "context": {"cluster": "control", "user": "cert-admin",
                                                          "namespace": namespace}}]})
    operator.stop()
    certified = Operator(bed, control, kubeconfig=cert_only)
    try:
        listed = _cli({}, "dataplane", "list", "--kubeconfig", str(cert_only), "--context", "control")
        assert listed.returncode == 0 and "k8s-1" in listed.stdout, listed.stderr
        merged = _cli({"KUBECONFIG": os.pathsep.join((str(user_only), str(bed.kubeconfig)))}, "cluster", "list")
        assert merged.returncode == 0, merged.stderr  # context control-cert (first file), cluster control (second)
        certified.start()  # waits until every DataPlane is reachable: the operator's own writes work
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "cert"))
        wait_cluster(control, namespace, "cert", phase_is("Running"))  # kopf's watches logged in too
        described = _cli({"KUBECONFIG": os.pathsep.join((str(user_only), str(bed.kubeconfig)))}, "cluster",
                         "describe", "cert")
        assert described.returncode == 0 and "cert-etcd-0" in described.stdout, described.stderr
        rest.call(control, "DELETE", rest.path("Cluster", namespace, "cert"))
        wait_cluster(control, namespace, "cert", lambda c: c is None)
    finally:
        certified.stop()
        operator.start()

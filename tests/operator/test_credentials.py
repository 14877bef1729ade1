"""The CLI and the operator reach the control plane with credentials as kubectl has them: a client certificate
only (as kind's and kubeadm's kubeconfigs give), and a ``$KUBECONFIG`` list merged as kubectl merges it.

Matrix: the control plane's API server trusting a client CA of the test's own | the CLI with a
certificate-only kubeconfig | the CLI with ``$KUBECONFIG`` = a file with the user, context and current-context
+ the bed's file with the cluster | ``kbmc operator run`` with the certificate-only kubeconfig (kopf's watches
and kbmc's own clients both log in with the certificate): a Cluster converges and is deleted.
"""

from __future__ import annotations

import base64
import datetime
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kbmc.dev.bed import Bed
from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import create_cluster, phase_is, seed, wait_cluster
from tests.operator_env import Operator


def _client_ca(directory: Path) -> tuple[Path, bytes, bytes]:
    """A CA file for the API server, and a client certificate and key it signed for a system:masters user."""
    now = datetime.datetime.now(datetime.UTC)

    def signed(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
               issuer_key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, user_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-client-ca")])
    user = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "cert-admin")])
    ca_file = directory / "client-ca.crt"
    ca_file.write_bytes(signed(ca_name, ca_key, ca_name, ca_key, True).public_bytes(serialization.Encoding.PEM))
    cert = signed(user, user_key, ca_name, ca_key, False).public_bytes(serialization.Encoding.PEM)
    key = user_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return ca_file, cert, key


def _kubeconfig(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **doc}))
    return path


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbmc", *args], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "COLUMNS": "200", **env})


def test_cli_and_operator_with_a_client_certificate(operator: Operator, clusters: Clusters, namespace: str,
                                                     tmp_path: Path) -> None:
    bed, control = operator.bed, clusters["control"]
    ca_file, cert, key = _client_ca(tmp_path)
    bed_doc = yaml.safe_load(bed.kubeconfig.read_text())
    cluster = next(c for c in bed_doc["clusters"] if c["name"] == "control")
    user = {"name": "cert-admin", "user": {"client-certificate-data": base64.b64encode(cert).decode(),
                                           "client-key-data": base64.b64encode(key).decode()}}
    cert_only = _kubeconfig(tmp_path / "cert-only", {
        "clusters": [cluster], "users": [user], "current-context": "control",
        "contexts": [{"name": "control", "context": {"cluster": "control", "user": "cert-admin"}}]})
    # no cluster here: the context names the bed's file's, as kind-up.sh's list does
    user_only = _kubeconfig(tmp_path / "user-only", {
        "users": [user], "current-context": "control-cert",
        "contexts": [{"name": "control-cert", "context": {"cluster": "control", "user": "cert-admin",
                                                          "namespace": namespace}}]})
    operator.stop()
    bed.restart_apiserver("control", [f"--client-ca-file={ca_file}"])
    certified = Operator(cast(Bed, SimpleNamespace(kubeconfig=cert_only, directory=tmp_path)), control)
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
        bed.restart_apiserver("control", [])
        operator.start()

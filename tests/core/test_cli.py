"""The CLI's own behaviour, without a cluster: version, one-line errors with exit code 1, kubectl's default
namespace, join's checks made before it contacts anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from kbmc import __version__
from kbmc.cli.common import namespace_of


def kbmc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kbmc", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_version() -> None:
    result = kbmc("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"kbmc {__version__}"


def test_a_bad_flag_or_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = kbmc("cluster", "list", "--bogus")
    assert bad.returncode == 1 and bad.stderr.strip() == "error: No such option: --bogus (see --help)"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}}]}))
    down = kbmc("cluster", "list", "--kubeconfig", str(kubeconfig))
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert down.stderr.strip().splitlines() == [
        "error: GET /apis/apps.kubeblocks.io/v1alpha1/namespaces/team-a/clusters: connection refused at "
        "https://127.0.0.1:9"], "the context's namespace, and the failure in words"
    assert namespace_of(None, kubeconfig, None) == "team-a" and namespace_of("x", kubeconfig, None) == "x"


def test_install_dry_run_prints_every_manifest_and_touches_nothing(tmp_path: Path) -> None:
    nowhere = tmp_path / "no-kubeconfig"  # nothing to reach: a dry run contacts no cluster
    result = kbmc("install", "--kubeconfig", str(nowhere), "--kubeconfig-secret", "s", "--contexts", "k8s-1,k8s-2",
                  "--dry-run")
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = [d["kind"] for d in documents]
    assert kinds.count("CustomResourceDefinition") == 4 and kinds.count("DataPlane") == 2
    assert kinds[-1] == "ClusterRole", "the data planes' ClusterRole, last"
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "--contexts" not in container["args"], "data planes come from DataPlane objects, not from args"
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container["env"]}
    assert env["KBMC_BIND_ADDRESS"] == "status.podIP" and env["POD_NAME"] == "metadata.name"
    assert deployment["spec"]["replicas"] == 2 and deployment["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": 1, "maxUnavailable": 0}
    assert container["readinessProbe"]["httpGet"]["port"] == container["livenessProbe"]["httpGet"]["port"] == "health"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}


def test_join_refuses_a_data_plane_it_could_not_verify_before_contacting_anything(tmp_path: Path) -> None:
    """No CA for the data plane's server in its kubeconfig: kbmc would have to turn verification off, so join
    refuses (--insecure-skip-tls-verify says so explicitly); a --server that is no https URL is refused too."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dp",
        "clusters": [{"name": "dp", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "dp", "context": {"cluster": "dp", "user": "u"}}]}))
    control = ["--kubeconfig", str(kubeconfig), "--context", "dp"]
    no_ca = kbmc("dataplane", "join", "dp", "--cluster-kubeconfig", str(kubeconfig), *control)
    assert no_ca.returncode == 1 and no_ca.stderr.strip().splitlines() == [
        f"error: kubeconfig {kubeconfig}, context (current) has no certificate-authority(-data) for "
        "https://127.0.0.1:9: the operator could not verify that server; add its CA there, or pass "
        "--insecure-skip-tls-verify"]
    bad = kbmc("dataplane", "join", "dp", "--cluster-kubeconfig", str(kubeconfig), "--server", "10.0.0.1:6443",
               *control)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: --server '10.0.0.1:6443' is not an https:// URL"
    old = kbmc("dataplane", "join", "dp", "--kubeconfig", str(kubeconfig), "--context", "dp")
    assert old.returncode == 1 and "Missing option '--cluster-kubeconfig'" in old.stderr, \
        "--kubeconfig is the control plane's"

"""The CLI's own behaviour, without a cluster: version, one-line errors with exit code 1, kubectl's default
namespace."""

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
    assert kinds.count("CustomResourceDefinition") == 3 and kinds.count("DataPlane") == 2
    assert kinds[-1] == "ClusterRole", "the data planes' ClusterRole, last"
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "--contexts" not in container["args"], "data planes come from DataPlane objects, not from args"
    assert container["args"][container["args"].index("--bind-address") + 1] == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"]["port"] == container["livenessProbe"]["httpGet"]["port"] == "health"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}

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

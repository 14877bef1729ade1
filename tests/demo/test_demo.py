"""The README's demo command end to end, in a bed of its own: bed, install, operator, a real etcd across
three data planes answering etcdctl; then ``kbmc uninstall --force --yes`` leaving nothing of kbmc in any cluster
(and a CRD kbmc did not install where it was), and ``kbmc dev down`` leaving no process behind; and the same
with ``--engine redis`` (Redis with Sentinel), its printed redis-cli commands working as printed."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kbmc.dev.bed import Bed, free_base_port
from kbmc.errors import ApiError
from kbmc.kube import rest
from kbmc.kube.client import new_client
from kbmc.kube.planes import MANAGED_KINDS


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "kbmc", "dev", "demo", "--dir", str(directory), "--base-port",
                             str(free_base_port())], capture_output=True, text=True, timeout=600, check=False,
                            env=env)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "etcd is running across k8s-1, k8s-2, k8s-3." in result.stdout
        assert "operator Deployment kb-system/kbmc-operator Ready; leader: kbmc-operator-" in result.stdout
        state = Bed(directory).load()
        etcdctl = [f"{state.bin_dir}/etcdctl", "--endpoints=http://127.1.0.10:2379,http://127.3.0.10:2379"]
        listed = subprocess.run([*etcdctl, "member", "list"], capture_output=True, text=True, check=False,
                                env={**env, "ETCDCTL_API": "3"}, timeout=30)
        assert listed.returncode == 0 and listed.stdout.count("started") == 3, listed.stdout + listed.stderr
        _uninstall_leaves_nothing(Bed(directory), env)
    finally:
        subprocess.run([sys.executable, "-m", "kbmc", "dev", "down", "--dir", str(directory)], check=False,
                       capture_output=True, timeout=120)
    pids = [p.pid for c in state.clusters for p in c.procs.values()]
    assert all(not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
               for pid in pids)


def _uninstall_leaves_nothing(bed: Bed, env: dict[str, str]) -> None:
    """uninstall refuses while Clusters exist, and --force without a terminal to ask on refuses without --yes;
    then it removes everything of kbmc's and nothing else: a CRD of kbmc's kinds made someone else's (as an
    existing KubeBlocks' is) stays."""
    command = [sys.executable, "-m", "kbmc", "uninstall", "--kubeconfig", str(bed.kubeconfig), "--context", "control"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args], capture_output=True, text=True, check=False, env=env, timeout=300,
                              stdin=subprocess.DEVNULL)

    refused = run()
    assert refused.returncode == 1 and "demo-etcd" in refused.stderr
    unasked = run("--force")
    assert unasked.returncode == 1 and unasked.stderr.strip().splitlines() == [
        "error: uninstall --force would delete 1 Cluster(s) (default/demo-etcd) and there is no terminal to ask on: "
        "pass --yes to confirm"], unasked.stderr
    control = new_client(bed.kubeconfig, "control", agent="kbmc/test")
    theirs = rest.path("CustomResourceDefinition", name="componentdefinitions.apps.kubeblocks.io")
    rest.call(new_client(bed.kubeconfig, "control", agent="helm/3.14"), "PATCH", theirs,
              content_type=rest.MERGE_PATCH, body={"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"},
                                                                "managedFields": [{}]}})
    done = run("--force", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CRD(s) componentdefinitions.apps.kubeblocks.io left: kbmc did not install them" in done.stdout
    assert rest.call(control, "GET", theirs)["metadata"]["name"] == "componentdefinitions.apps.kubeblocks.io"
    for crd in ("clusters.apps.kubeblocks.io", "dataplanes.kbmc.io"):
        with pytest.raises(ApiError):
            rest.call(control, "GET", rest.path("CustomResourceDefinition", name=crd))
    for plane in ("k8s-1", "k8s-2", "k8s-3"):
        api = new_client(bed.kubeconfig, plane, agent="kbmc/test")
        with pytest.raises(ApiError):
            rest.call(api, "GET", rest.path("ClusterRole", name="kbmc-dataplane"))
        for kind in MANAGED_KINDS:
            left = rest.call(api, "GET", rest.path(kind), query={"labelSelector": "app.kubernetes.io/managed-by=kbmc"})
            assert left["items"] == [], (plane, kind)


def test_demo_with_redis_and_sentinel(tmp_path: Path) -> None:
    """``kbmc dev demo --engine redis``: Redis with Sentinel across the three data planes; the redis-cli commands
    it prints work as printed (the password read from its Secret by kubectl's jsonpath, here by the API)."""
    directory = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "250"}
    result = subprocess.run([sys.executable, "-m", "kbmc", "dev", "demo", "--engine", "redis", "--dir",
                             str(directory), "--base-port", str(free_base_port())], capture_output=True, text=True,
                            timeout=600, check=False, env=env)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert re.search(r"Redis is running across k8s-1, k8s-2, k8s-3: primary demo-redis-redis-0 in k8s-1",
                         result.stdout), result.stdout[-2000:]
        control = new_client(Bed(directory).kubeconfig, "control", agent="kbmc/test")
        secret = rest.call(control, "GET", rest.path("Secret", "default", "demo-redis-redis-account-default"))
        auth = {**env, "REDISCLI_AUTH": base64.b64decode(secret["data"]["password"]).decode()}
        tried = [line.split() for line in result.stdout.splitlines() if "redis-cli -h" in line and "sentinel" not in
                 line]
        outputs = [subprocess.run(line[:line.index("#")] if "#" in line else line, capture_output=True, text=True,
                                  check=False, env=auth, timeout=30).stdout.strip() for line in tried]
        assert outputs[:3] == ["OK", "2", "world"], (tried, outputs)
    finally:
        subprocess.run([sys.executable, "-m", "kbmc", "dev", "down", "--dir", str(directory)], check=False,
                       capture_output=True, timeout=120)

"""A real etcd raft group forms across three data planes, run by the node agents, checked with etcdctl.

Matrix: 3 members with the LB addresses | a key written through one member is read through another |
k8s-2 stopped (its etcd too): writes still succeed through the other two | k8s-2 marked unavailable: the
Cluster reports it | started and marked available: the member rejoins and has the key.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time

from kbmc.dev.bed import Bed
from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import condition, create_cluster, kbmc, phase_is, seed, wait_cluster
from tests.operator_env import Operator

ETCD_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \S+ [DINWEC] \| |(INFO|WARNING|ERROR): \d{4}/\d\d/\d\d )")
"""A line of etcd 3.4's log: its own (capnslog: date, time, level, package), or its gRPC server's (level, date:
e.g. a connection closed before its first frame, as a member's start script probing its peers makes one)."""
ENDPOINTS = {"k8s-1": "127.1.0.10", "k8s-2": "127.2.0.10", "k8s-3": "127.3.0.10"}


def etcdctl(bed: Bed, address: str, *args: str) -> subprocess.CompletedProcess[str]:
    binary = f"{bed.load().bin_dir}/etcdctl"
    return subprocess.run([binary, f"--endpoints=http://{address}:2379", "--command-timeout=3s", *args],
                          capture_output=True, text=True, timeout=20, check=False,
                          env={**os.environ, "ETCDCTL_API": "3"})


def eventually(check: object, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if result.returncode == 0 or time.monotonic() > deadline:
            return result  # type: ignore[no-any-return]
        time.sleep(0.5)


def test_etcd_forms_one_raft_group_across_data_planes(operator: Operator, clusters: Clusters, namespace: str) -> None:
    bed, control = operator.bed, clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "raft", processes=True))
    cluster = wait_cluster(control, namespace, "raft", phase_is("Running"), timeout=90)
    assert cluster is not None
    addresses = {i["dataPlane"]: i["addresses"][0] for i in cluster["status"]["components"]["etcd"]["instances"]}
    members = etcdctl(bed, addresses["k8s-1"], "member", "list", "-w", "json")
    assert members.returncode == 0, members.stderr
    peers = sorted(m["peerURLs"][0] for m in json.loads(members.stdout)["members"])
    assert peers == sorted(f"http://{a}:2380" for a in addresses.values())
    assert etcdctl(bed, addresses["k8s-1"], "put", "greeting", "hello").returncode == 0
    assert etcdctl(bed, addresses["k8s-3"], "get", "greeting", "--print-value-only").stdout.strip() == "hello"

    # the member's log, through the API server of its data plane (the node agent serves the kubelet API)
    response = rest.request(clusters["k8s-2"], "GET", rest.path("Pod", namespace, "raft-etcd-1", "log"),
                            query={"tailLines": 3, "container": "etcd"}, stream=True, accept="*/*")
    try:
        lines = response.data.decode().splitlines()
    finally:
        rest.drop(response)
    assert len(lines) == 3 and all(ETCD_LINE.match(line) for line in lines), lines
    logged = kbmc(bed, "cluster", "logs", "raft", "-n", namespace, "--instance", "raft-etcd-1", "--tail", "5")
    assert logged.returncode == 0, logged.stderr
    assert len(logged.stdout.splitlines()) == 5 and all(ETCD_LINE.match(line) for line in logged.stdout.splitlines())
    every = kbmc(bed, "cluster", "logs", "raft", "-n", namespace, "--tail", "1")
    assert [line for line in every.stdout.splitlines() if line.startswith("==> ")] == [
        "==> raft-etcd-0 (k8s-1) <==", "==> raft-etcd-1 (k8s-2) <==", "==> raft-etcd-2 (k8s-3) <=="]
    following = subprocess.Popen([sys.executable, "-m", "kbmc", "cluster", "logs", "raft", "-n", namespace,
                                  "--instance", "raft-etcd-1", "--tail", "0", "-f", "--kubeconfig", str(bed.kubeconfig),
                                  "--context", "control"], stdout=subprocess.PIPE, text=True)
    try:
        assert following.stdout is not None
        deadline, ready = time.monotonic() + 30, []
        while not ready and time.monotonic() < deadline:  # until -f is connected: each defrag logs two lines
            assert etcdctl(bed, addresses["k8s-2"], "defrag").returncode == 0
            ready, _, _ = select.select([following.stdout], [], [], 1)
        assert ready, ("kbmc cluster logs -f streamed nothing within 30 s of etcd logging; its log ends: "
                       + kbmc(bed, "cluster", "logs", "raft", "-n", namespace, "--instance", "raft-etcd-1",
                              "--tail", "3").stdout)
        followed = following.stdout.readline()  # a line written after -f started, streamed as it comes
        assert ETCD_LINE.match(followed), followed
    finally:
        following.kill()
        following.wait()
    unknown = kbmc(bed, "cluster", "logs", "raft", "-n", namespace, "--instance", "raft-etcd-7")
    assert unknown.returncode == 1 and "has no such instance (it has: raft-etcd-0, raft-etcd-1, raft-etcd-2)" in \
        unknown.stderr

    bed.stop("k8s-2")  # the whole cluster goes: API server, node agent and the etcd process it ran
    try:
        assert etcdctl(bed, addresses["k8s-2"], "endpoint", "health").returncode != 0
        assert eventually(lambda: etcdctl(bed, addresses["k8s-1"], "put", "during", "outage")).returncode == 0
        assert etcdctl(bed, addresses["k8s-3"], "get", "during", "--print-value-only").stdout.strip() == "outage"
        assert kbmc(bed, "dataplane", "mark-unavailable", "k8s-2", "--reason", "k8s-2 lost").returncode == 0
        reported = wait_cluster(control, namespace, "raft", lambda c: "k8s-2 lost" in (
            condition(c, "DataPlanesAvailable") or {}).get("message", ""))
        assert reported is not None and reported["status"]["phase"] == "Abnormal"
        states = {i["dataPlane"]: i["podPhase"] for i in reported["status"]["components"]["etcd"]["instances"]}
        assert states == {"k8s-1": "Running", "k8s-2": "Unknown", "k8s-3": "Running"}
    finally:
        bed.start("k8s-2")
        kbmc(bed, "dataplane", "mark-available", "k8s-2")
    rejoined = eventually(lambda: etcdctl(bed, addresses["k8s-2"], "get", "during", "--print-value-only"), 60)
    assert rejoined.stdout.strip() == "outage", rejoined.stderr
    wait_cluster(control, namespace, "raft", phase_is("Running"), timeout=60)

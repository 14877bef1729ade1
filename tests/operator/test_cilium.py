"""The seed's self-hosted example (ClusterIP pod services annotated ``service.cilium.io/global``, members found by
the peer Services' host names) as a real etcd raft group across three data planes, the bed's mesh agents playing
Cilium ClusterMesh and the cluster DNS for the members (``kbmc.dev.mesh``).

Matrix: the example as written (but for its namespace) | PEER_ENDPOINT holds host names, and etcd's members have
them as peer URLs | a key written through one member is read through another | k8s-2 stopped (its API server, its
agents and the member they ran): the other two keep serving | k8s-2 started again: its member rejoins and has
what was written meanwhile.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from kbmc.kube import rest
from tests.kube import Clusters
from tests.operator.helpers import PLANES, SEEDS, create_cluster, phase_is, wait_cluster
from tests.operator.test_day2 import _settled
from tests.operator.test_etcd import etcdctl, eventually
from tests.operator_env import Operator


def _pod_addresses(clusters: Clusters, namespace: str) -> dict[str, tuple[str, str]]:
    """Pod name -> (data plane, pod IP)."""
    out = {}
    for plane in PLANES:
        for pod in rest.call(clusters[plane], "GET", rest.path("Pod", namespace))["items"]:
            out[pod["metadata"]["name"]] = (plane, pod["status"]["podIP"])
    return out


def test_self_hosted_seed_forms_one_raft_group_over_the_mesh(operator: Operator, clusters: Clusters,
                                                              namespace: str) -> None:
    bed, control = operator.bed, clusters["control"]
    body: dict[str, Any] = yaml.safe_load((SEEDS / "etcd-self-hosted-cilium.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    name = create_cluster(control, body)["metadata"]["name"]  # generateName, as the example has it
    assert wait_cluster(control, namespace, name, _settled(3), timeout=120) is not None

    peers = [f"{name}-etcd-peer-{o}" for o in range(3)]
    env = rest.call(clusters["k8s-1"], "GET", rest.path("ConfigMap", namespace, f"{name}-etcd-env"))
    assert env["data"]["PEER_ENDPOINT"] == ",".join(peers), "kbmc hands the members host names"
    pods = _pod_addresses(clusters, namespace)
    assert sorted(plane for plane, _ in pods.values()) == list(PLANES)
    member = {plane: address for plane, address in pods.values()}
    listed = etcdctl(bed, member["k8s-1"], "member", "list", "-w", "json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(m["peerURLs"][0] for m in json.loads(listed.stdout)["members"]) == [
        f"http://{p}:2380" for p in peers]
    assert etcdctl(bed, member["k8s-1"], "put", "greeting", "hello").returncode == 0
    assert etcdctl(bed, member["k8s-3"], "get", "greeting", "--print-value-only").stdout.strip() == "hello"

    bed.stop("k8s-2")  # the whole data plane: API server, node and mesh agents, and the member they ran
    try:
        assert etcdctl(bed, member["k8s-2"], "endpoint", "health").returncode != 0
        # the member stopped may have been the leader: the other two elect one first
        written = eventually(lambda: etcdctl(bed, member["k8s-1"], "put", "during", "outage"))
        assert written.returncode == 0, written.stderr
        assert etcdctl(bed, member["k8s-3"], "get", "during", "--print-value-only").stdout.strip() == "outage"
        assert etcdctl(bed, member["k8s-3"], "put", "also", "through-k8s-3").returncode == 0
        assert etcdctl(bed, member["k8s-1"], "get", "also", "--print-value-only").stdout.strip() == "through-k8s-3"
    finally:
        bed.start("k8s-2")
    rejoined = eventually(lambda: etcdctl(bed, member["k8s-2"], "get", "during", "--print-value-only"), 60)
    assert rejoined.stdout.strip() == "outage", rejoined.stderr
    assert wait_cluster(control, namespace, name, phase_is("Running"), timeout=60) is not None

"""Per-pod services and peer addresses across data planes.

Matrix: cloud LB example (its services block where it belongs): pods created only after all three LB
addresses existed (audit logs) | NodePort: node address and nodePort per data plane | an LB address that
changes is followed by the env ConfigMap | DataPlane service annotations as defaults, the Cluster's win |
a peer in a data plane marked unavailable stays in PEER_ENDPOINT and is listed in PEER_ENDPOINT_UNAVAILABLE.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

from kbmc.kube import rest
from tests.kube import Clusters, wait_object
from tests.operator.helpers import PLANES, create_cluster, kbmc, phase_is, read, seed, wait_cluster
from tests.operator_env import Operator

PEER = {"name": "peer", "podService": True}


def _stamp(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _audit(operator: Operator, plane: str) -> list[dict[str, Any]]:
    text = (operator.bed.directory / plane / "audit.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_pods_wait_for_every_load_balancer_address(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "lbwait"))
    wait_cluster(control, namespace, "lbwait", phase_is("Running"))
    time.sleep(1)  # audit batches
    addressed, created = [], []
    for plane in PLANES:
        for event in _audit(operator, plane):
            uri = event["requestURI"]
            if f"/namespaces/{namespace}/services/lbwait-etcd-peer-" in uri and uri.endswith("/status") and (
                    event["user"]["username"] == "kbmc-dev:node-agent"):
                addressed.append(_stamp(event["stageTimestamp"]))
            if event["verb"] == "create" and uri.endswith(f"/namespaces/{namespace}/pods") and (
                    event["userAgent"].startswith("kbmc/")):
                created.append(_stamp(event["requestReceivedTimestamp"]))
    assert len(addressed) >= 3 and len(created) == 3
    assert min(created) >= max(addressed)


def test_node_port_peers_advertise_node_address_and_port(operator: Operator, clusters: Clusters,
                                                         namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "np",
                                 services=[{**PEER, "serviceType": "NodePort", "annotations": {
                                     "apps.kubeblocks.io/multi-cluster-service-placement": "unique"}}]))
    cluster = wait_cluster(control, namespace, "np", phase_is("Running"))
    assert cluster is not None
    entries = []
    for index, plane in enumerate(PLANES):
        svc = read(clusters, plane, "Service", namespace, f"np-etcd-peer-{index}")
        assert svc["spec"]["type"] == "NodePort"
        entries.append(f"np-etcd-peer-{index}:127.{index + 1}.0.1:{svc['spec']['ports'][0]['nodePort']}")
    env = read(clusters, "k8s-2", "ConfigMap", namespace, "np-etcd-env")
    assert env["data"]["PEER_ENDPOINT"] == ",".join(entries)
    addresses = [i["addresses"] for i in cluster["status"]["components"]["etcd"]["instances"]]
    assert addresses == [[e.split(":", 1)[1]] for e in entries]


def test_env_follows_a_changed_load_balancer_address(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "moves"))
    wait_cluster(control, namespace, "moves", phase_is("Running"))
    rest.call(clusters["k8s-3"], "PATCH", rest.path("Service", namespace, "moves-etcd-peer-2", "status"),
              content_type=rest.MERGE_PATCH, body={"status": {"loadBalancer": {"ingress": [{"ip": "127.3.9.9"}]}}})
    for plane in ("k8s-1", "k8s-2", "k8s-3"):
        wait_object(clusters[plane], "ConfigMap", namespace, "moves-etcd-env",
                    lambda cm: "moves-etcd-peer-2:127.3.9.9" in (cm or {}).get("data", {}).get("PEER_ENDPOINT", ""),
                    timeout=30)
    wait_cluster(control, namespace, "moves", lambda c: ["127.3.9.9"] in [
        i["addresses"] for i in (c or {}).get("status", {}).get("components", {}).get("etcd", {}).get("instances", [])])


def test_data_plane_service_annotations_are_defaults(operator: Operator, clusters: Clusters, namespace: str) -> None:
    control = clusters["control"]
    defaults = {"metallb.universe.tf/address-pool": "k8s-1-pool",
                "service.beta.kubernetes.io/volcengine-loadbalancer-address-type": "PRIVATE"}
    rest.call(control, "PATCH", rest.path("DataPlane", name="k8s-1"), content_type=rest.MERGE_PATCH,
              body={"spec": {"serviceAnnotations": defaults}})
    try:
        create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "annotated"))
        wait_cluster(control, namespace, "annotated", phase_is("Running"))
        on_k8s1 = read(clusters, "k8s-1", "Service", namespace, "annotated-etcd-peer-0")["metadata"]["annotations"]
        assert on_k8s1["metallb.universe.tf/address-pool"] == "k8s-1-pool"
        assert on_k8s1["service.beta.kubernetes.io/volcengine-loadbalancer-address-type"] == "PUBLIC"  # Cluster wins
        on_k8s2 = read(clusters, "k8s-2", "Service", namespace, "annotated-etcd-peer-1")["metadata"]["annotations"]
        assert "metallb.universe.tf/address-pool" not in on_k8s2
    finally:
        rest.call(control, "PATCH", rest.path("DataPlane", name="k8s-1"), content_type=rest.MERGE_PATCH,
                  body={"spec": {"serviceAnnotations": None}})


def test_peers_in_an_unavailable_data_plane_stay_listed(operator: Operator, clusters: Clusters,
                                                        namespace: str) -> None:
    control = clusters["control"]
    create_cluster(control, seed("etcd-cross-cloud-lb.yaml", namespace, "peers"))
    wait_cluster(control, namespace, "peers", phase_is("Running"))
    before = read(clusters, "k8s-1", "ConfigMap", namespace, "peers-etcd-env")["data"]
    assert before["PEER_ENDPOINT_UNAVAILABLE"] == ""
    assert kbmc(operator.bed, "dataplane", "mark-unavailable", "k8s-3", "--reason", "drill").returncode == 0
    try:
        env = wait_object(clusters["k8s-1"], "ConfigMap", namespace, "peers-etcd-env",
                          lambda cm: (cm or {}).get("data", {}).get("PEER_ENDPOINT_UNAVAILABLE") == "peers-etcd-peer-2")
        assert env is not None and env["data"]["PEER_ENDPOINT"] == before["PEER_ENDPOINT"]
    finally:
        kbmc(operator.bed, "dataplane", "mark-available", "k8s-3")
    wait_object(clusters["k8s-1"], "ConfigMap", namespace, "peers-etcd-env",
                lambda cm: ((cm or {}).get("data") or {}).get("PEER_ENDPOINT_UNAVAILABLE") == "")

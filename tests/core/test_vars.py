"""Var resolution with KubeBlocks' formats, without a cluster.

Matrix: LoadBalancer pod services -> sorted svc:address | waiting while an address is missing (Required
holds pods, published value kept) | host names for ClusterIP | NodePort -> svc:node:nodePort per data plane |
peers in unavailable data planes keep their entry and are listed in <VAR>_UNAVAILABLE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kbmc.api.cluster import ClusterComponentSpec
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.core.services import plan_services
from kbmc.core.vars import Context, SeenService, resolve

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ComponentDefinition.model_validate(yaml.safe_load((ROOT / "addons/etcd/componentdefinition.yaml")
                                                               .read_text()))
ORDINALS = {0: "k8s-1", 1: "k8s-2", 2: "k8s-3"}


def peer_env(service_type: str, **ctx: Any) -> tuple[dict[str, str], list[str]]:
    spec = ClusterComponentSpec.model_validate({
        "name": "etcd", "componentDef": "etcd-0.9.0", "replicas": 3,
        "services": [{"name": "peer", "serviceType": service_type, "podService": True}]})
    result = resolve(DEFINITION, plan_services(spec, DEFINITION), "c", "etcd", ORDINALS,
                     Context(**{"seen": {}, "node_addresses": {}, **ctx}))
    return result.env, result.waiting


def lb(*ips: str) -> dict[tuple[str, str], SeenService]:
    return {(plane, f"c-etcd-peer-{i}"): SeenService(ingress=(ip,)) for (i, plane), ip in zip(ORDINALS.items(), ips,
                                                                                             strict=False)}


def test_load_balancer_addresses_sorted() -> None:
    env, waiting = peer_env("LoadBalancer", seen=lb("127.1.0.10", "127.2.0.10", "127.3.0.10"))
    assert env["PEER_ENDPOINT"] == "c-etcd-peer-0:127.1.0.10,c-etcd-peer-1:127.2.0.10,c-etcd-peer-2:127.3.0.10"
    assert env["PEER_ENDPOINT_UNAVAILABLE"] == "" and waiting == []


def test_missing_address_waits_and_keeps_what_was_published() -> None:
    env, waiting = peer_env("LoadBalancer", seen=lb("127.1.0.10", "127.2.0.10"))
    assert waiting == ["c-etcd-peer-2"] and "PEER_ENDPOINT" not in env
    env, _ = peer_env("LoadBalancer", seen=lb("127.1.0.10", "127.2.0.10"), previous={"PEER_ENDPOINT": "old"})
    assert env["PEER_ENDPOINT"] == "old"


def test_cluster_ip_uses_host_names() -> None:
    env, waiting = peer_env("ClusterIP")
    assert env["PEER_ENDPOINT"] == "c-etcd-peer-0,c-etcd-peer-1,c-etcd-peer-2" and waiting == []


def test_node_port_advertises_each_data_plane_node_and_port() -> None:
    seen = {(p, f"c-etcd-peer-{i}"): SeenService(node_ports=(31000 + i,)) for i, p in ORDINALS.items()}
    nodes = {"k8s-1": "127.1.0.1", "k8s-2": "127.2.0.1", "k8s-3": "127.3.0.1"}
    env, _ = peer_env("NodePort", seen=seen, node_addresses=nodes)
    assert env["PEER_ENDPOINT"] == ("c-etcd-peer-0:127.1.0.1:31000,c-etcd-peer-1:127.2.0.1:31001,"
                                    "c-etcd-peer-2:127.3.0.1:31002")


def test_peers_in_unavailable_data_planes_keep_their_entry() -> None:
    published = "c-etcd-peer-0:127.1.0.10,c-etcd-peer-1:127.2.0.10,c-etcd-peer-2:127.3.0.10"
    env, waiting = peer_env("LoadBalancer", seen=lb("127.1.0.10"), unavailable=frozenset({"k8s-2", "k8s-3"}),
                            previous={"PEER_ENDPOINT": published})
    assert env["PEER_ENDPOINT"] == published and waiting == []
    assert env["PEER_ENDPOINT_UNAVAILABLE"] == "c-etcd-peer-1,c-etcd-peer-2"

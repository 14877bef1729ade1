"""Var resolution with KubeBlocks' formats, without a cluster.

Matrix: LoadBalancer pod services -> sorted svc:address | waiting while an address is missing (Required
holds pods, published value kept) | host names for ClusterIP | NodePort -> svc:node:nodePort per data plane |
peers in unavailable data planes keep their entry and are listed in <VAR>_UNAVAILABLE | vars of another
component (compDef): the one it matches, none (optional: left out; required: error), several (error).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.api.cluster import ClusterComponentSpec
from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.core.services import plan_services
from kbmc.core.vars import Component, Context, SeenService, resolve
from kbmc.errors import ComponentDefinitionError

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


def test_vars_of_the_component_and_of_a_service_without_a_name() -> None:
    """componentVarRef names every instance wherever it runs (placed or not), in KubeBlocks' formats; a
    serviceVarRef without a name means the definition's default service (here its only pod service)."""
    body = DEFINITION.dump()
    body["spec"]["services"] = [s for s in body["spec"]["services"] if s["name"] == "peer"]
    body["spec"]["vars"] = [
        {"name": "PEERS", "valueFrom": {"serviceVarRef": {"host": "Required"}}},
        {"name": "NAMES", "valueFrom": {"componentVarRef": {"podNames": "Required"}}},
        {"name": "FQDNS", "valueFrom": {"componentVarRef": {"podFQDNs": "Required"}}},
        {"name": "FULL", "valueFrom": {"componentVarRef": {"componentName": "Required"}}},
        {"name": "COUNT", "valueFrom": {"componentVarRef": {"replicas": "Required"}}}]
    definition = ComponentDefinition.model_validate(body)
    spec = ClusterComponentSpec.model_validate({"name": "etcd", "componentDef": "etcd-0.9.0", "replicas": 3,
                                                "services": [{"name": "peer", "podService": True}]})
    result = resolve(definition, plan_services(spec, definition), "c", "etcd", {0: "k8s-1", 2: "k8s-3"},
                     Context(seen={}, node_addresses={}), namespace="ns", replicas=3)
    assert result.env == {
        "PEERS": "c-etcd-peer-0,c-etcd-peer-2", "PEERS_UNAVAILABLE": "", "NAMES": "c-etcd-0,c-etcd-1,c-etcd-2",
        "FQDNS": ",".join(f"c-etcd-{i}.c-etcd-headless.ns.svc.cluster.local" for i in range(3)),
        "FULL": "c-etcd", "COUNT": "3"}


def _addon(name: str) -> ComponentDefinition:
    return ComponentDefinition.model_validate(yaml.safe_load((ROOT / "addons/redis" / name).read_text()))


REDIS, SENTINEL = _addon("componentdefinition-redis.yaml"), _addon("componentdefinition-sentinel.yaml")


def _component(name: str, definition: ComponentDefinition, service: str) -> Component:
    spec = ClusterComponentSpec.model_validate({
        "name": name, "componentDef": definition.metadata.name, "replicas": 3,
        "services": [{"name": service, "serviceType": "LoadBalancer", "podService": True}]})
    return Component(name, definition, plan_services(spec, definition), ORDINALS, 3)


def _redis_env(*others: Component) -> Any:
    redis = _component("redis", REDIS, "redis-lb-advertised")
    seen = {(plane, f"c-{c.name}-{svc}-{i}"): SeenService(ingress=(f"127.{i + 1}.0.{10 + k}",))
            for k, (c, svc) in enumerate([(redis, "redis-lb-advertised"), *((o, "sentinel-lb-advertised")
                                                                          for o in others)])
            for i, plane in ORDINALS.items()}
    return resolve(REDIS, redis.plans, "c", "redis", ORDINALS, Context(seen=seen, node_addresses={}), replicas=3,
                   others=list(others))


def test_vars_of_another_component_read_the_one_its_compdef_matches() -> None:
    """Redis reads its Sentinel component's name, advertised addresses and account (a Secret of that
    component, never a literal); vars of a service the Cluster does not declare are left out (optional)."""
    result = _redis_env(_component("sentinel", SENTINEL, "sentinel-lb-advertised"))
    assert result.env["SENTINEL_COMPONENT_NAME"] == "c-sentinel"
    assert result.env["SENTINEL_LB_ADVERTISED"] == ("c-sentinel-sentinel-lb-advertised-0:127.1.0.11,"
                                                    "c-sentinel-sentinel-lb-advertised-1:127.2.0.11,"
                                                    "c-sentinel-sentinel-lb-advertised-2:127.3.0.11")
    assert result.env["REDIS_LB_ADVERTISED"].startswith("c-redis-redis-lb-advertised-0:127.1.0.10,")
    assert "SENTINEL_ADVERTISED" not in result.env and "REDIS_ADVERTISED" not in result.env
    assert result.credentials["SENTINEL_PASSWORD"] == ("c-sentinel-account-default", "password")
    assert result.credentials["REDIS_DEFAULT_PASSWORD"] == ("c-redis-account-default", "password")
    assert not any("PASSWORD" in k for k in result.env) and result.waiting == []


def test_vars_of_another_component_absent_or_ambiguous() -> None:
    """No Sentinel component: its optional vars are left out. Two: an error naming both (KubeBlocks'
    multipleClusterObjectOption is not supported). A required one with none: an error naming the var."""
    alone = _redis_env()
    assert not any(k.startswith("SENTINEL") for k in [*alone.env, *alone.credentials])
    with pytest.raises(ComponentDefinitionError, match="matches components s1, s2 of this Cluster"):
        _redis_env(_component("s1", SENTINEL, "sentinel-lb-advertised"),
                   _component("s2", SENTINEL, "sentinel-lb-advertised"))
    body = REDIS.dump()
    del next(v for v in body["spec"]["vars"] if v["name"] == "SENTINEL_COMPONENT_NAME")["valueFrom"][
        "componentVarRef"]["optional"]
    required = ComponentDefinition.model_validate(body)
    with pytest.raises(ComponentDefinitionError, match=re.escape(
            "var SENTINEL_COMPONENT_NAME (compDef redis-sentinel-7): no other component of this Cluster")):
        resolve(required, _component("redis", required, "redis-lb-advertised").plans, "c", "redis", ORDINALS,
                Context(seen={}, node_addresses={}))

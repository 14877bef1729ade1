"""The bed's clusters behave like real, separate clusters.

Matrix: every cluster reachable through its own kubeconfig context | objects do not leak between clusters |
RBAC enforced (a token without bindings gets 403) | the controller-manager runs (default ServiceAccount and
token, garbage collection, namespace deletion) | every request is in the audit log with user and userAgent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from kbmc.dev.bed import Bed, BedState
from kbmc.kube.client import new_client
from tests.kube import Clusters, wait_for


def test_every_cluster_has_its_context_and_a_ready_node(bed_state: BedState, clusters: Clusters) -> None:
    assert list(clusters) == ["control", "k8s-1", "k8s-2", "k8s-3"]
    for name, api in clusters.items():
        assert client.VersionApi(api).get_code().git_version.startswith("v1.20.2")
        nodes = client.CoreV1Api(api).list_node().items
        assert [n.metadata.name for n in nodes] == [f"{name}-node"]
        addresses = {a.type: a.address for a in nodes[0].status.addresses}
        assert addresses["InternalIP"] == f"127.{bed_state.cluster(name).index}.0.1"


def test_an_object_in_one_cluster_is_absent_from_the_others(clusters: Clusters, namespace: str) -> None:
    client.CoreV1Api(clusters["k8s-1"]).create_namespaced_config_map(
        namespace, {"metadata": {"name": "only-here"}, "data": {"k": "v"}})
    for other in ("control", "k8s-2", "k8s-3"):
        with pytest.raises(client.ApiException) as err:
            client.CoreV1Api(clusters[other]).read_namespaced_config_map("only-here", namespace)
        assert err.value.status == 404


def test_rbac_is_enforced(bed: Bed, bed_state: BedState, namespace: str) -> None:
    kubeconfig = yaml.safe_load(bed.kubeconfig.read_text())
    for user in kubeconfig["users"]:
        if user["name"] == "k8s-1-admin":
            user["user"]["token"] = bed_state.cluster("k8s-1").tokens["nobody"]
    nobody = new_client("", "k8s-1", agent="kbmc/test", kubeconfig_dict=kubeconfig)
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(nobody).list_namespaced_pod(namespace)
    assert err.value.status == 403
    assert "kbmc-dev:nobody" in err.value.body


def test_controller_manager_runs(clusters: Clusters, namespace: str) -> None:
    core = client.CoreV1Api(clusters["k8s-2"])
    account = wait_for(core.list_namespaced_service_account, lambda sa: bool(sa and sa.get("secrets")),
                       name="default", namespace=namespace)
    assert account is not None
    # garbage collection follows ownerReferences
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "owned", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("owner", namespace)
    wait_for(core.list_namespaced_config_map, lambda cm: cm is None, name="owned", namespace=namespace)
    # namespaces finish deleting
    core.create_namespace({"metadata": {"name": f"{namespace}-gone"[:63]}})
    core.delete_namespace(f"{namespace}-gone"[:63])
    wait_for(core.list_namespace, lambda ns: ns is None, name=f"{namespace}-gone"[:63])


def test_audit_log_records_user_and_user_agent(bed: Bed, namespace: str) -> None:
    api = new_client(bed.kubeconfig, "k8s-3", agent="kbmc/audit-probe")
    client.CoreV1Api(api).list_namespaced_config_map(namespace)
    log = Path(bed.directory / "k8s-3" / "audit.log")
    deadline = time.monotonic() + 10  # the audit backend writes in batches (200 ms)
    while time.monotonic() < deadline:
        events = [json.loads(line) for line in log.read_text().splitlines() if "kbmc/audit-probe" in line]
        if events:
            break
        time.sleep(0.2)
    assert events, f"no audit event from kbmc/audit-probe in {log}"
    event = events[0]
    assert event["level"] == "Metadata"
    assert event["user"]["username"] == "kbmc-dev:admin"
    assert event["verb"] == "list"
    assert event["objectRef"]["namespace"] == namespace
